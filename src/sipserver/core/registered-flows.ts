import type { Flow } from '../transport/types';

interface CachedFlow {
  flow: Flow;
  expiresAt: number;
}

/**
 * Connections that registered users reached us on (TCP, TLS, WS, WSS), keyed by the Contact's
 * `user@host`. A later request to that user must go down the same connection: a browser behind
 * a WebSocket, with a `*.invalid` Contact, cannot be reached any other way.
 */
export class RegisteredFlows {
  private readonly byAor = new Map<string, CachedFlow>();

  remember(userAtHost: string, flow: Flow, expiresSeconds: number, now = Date.now()): void {
    if (expiresSeconds <= 0) this.byAor.delete(userAtHost);
    else this.byAor.set(userAtHost, { flow, expiresAt: now + expiresSeconds * 1000 });
  }

  lookup(userAtHost: string, now = Date.now()): Flow | undefined {
    const cached = this.byAor.get(userAtHost);
    if (!cached) return undefined;
    if (cached.expiresAt <= now) {
      this.byAor.delete(userAtHost);
      return undefined;
    }
    return cached.flow;
  }

  forgetConnection(connectionId: string): void {
    for (const [key, cached] of this.byAor)
      if (cached.flow.connectionId === connectionId) this.byAor.delete(key);
  }

  get size(): number {
    return this.byAor.size;
  }
}
