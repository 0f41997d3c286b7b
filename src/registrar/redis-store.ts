import Redis from 'ioredis';
import { latestExpiry, type BindingStore } from './store';
import type { Binding } from './types';

const KEY_PREFIX = 'pinhole:aor:';

/**
 * Bindings in Redis, one key per AoR holding its binding list as JSON, with a TTL that ends with
 * the last binding, so several Pinhole processes share registrations and Redis drops dead AoRs.
 * Durability is Redis's (appendonly / appendfsync); `put` resolves once Redis has acknowledged.
 */
export class RedisBindingStore implements BindingStore {
  readonly shared = true;

  private constructor(private readonly redis: Redis) {}

  static async open(url: string): Promise<RedisBindingStore> {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    // Without a listener ioredis prints "Unhandled error event" on every reconnect attempt while
    // Redis is away; the outage shows in healthy() and in the errors of the commands that fail.
    redis.on('error', () => undefined);
    await redis.connect();
    return new RedisBindingStore(redis);
  }

  async get(aor: string): Promise<Binding[]> {
    const text = await this.redis.get(KEY_PREFIX + aor);
    return text ? (JSON.parse(text) as Binding[]) : [];
  }

  async put(aor: string, bindings: Binding[]): Promise<void> {
    const ttl = latestExpiry(bindings) - Date.now();
    if (bindings.length === 0 || ttl <= 0) await this.redis.del(KEY_PREFIX + aor);
    else await this.redis.set(KEY_PREFIX + aor, JSON.stringify(bindings), 'PX', ttl);
  }

  async all(): Promise<Map<string, Binding[]>> {
    const result = new Map<string, Binding[]>();
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${KEY_PREFIX}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length === 0) continue;
      const values = await this.redis.mget(keys);
      keys.forEach((key, i) => {
        const text = values[i];
        if (text) result.set(key.slice(KEY_PREFIX.length), JSON.parse(text) as Binding[]);
      });
    } while (cursor !== '0');
    return result;
  }

  healthy(): boolean {
    return this.redis.status === 'ready';
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}
