import type { Connection } from './connection';
import type { TransportProtocol } from './types';

/** The key under which a connection to a peer is found again (RFC 3261 §18.1.1, §18.2.2). */
export function connectionKey(protocol: TransportProtocol, address: string, port: number): string {
  return `${protocol}|${address}|${port}`;
}

/** Open connections by id and by protocol/remote address/remote port. */
export class ConnectionTable {
  private readonly byIdMap = new Map<string, Connection>();
  private readonly byKeyMap = new Map<string, Connection>();

  get size(): number {
    return this.byIdMap.size;
  }

  add(connection: Connection): void {
    this.byIdMap.set(connection.id, connection);
    this.byKeyMap.set(keyOf(connection), connection);
  }

  remove(connection: Connection): boolean {
    if (this.byIdMap.get(connection.id) !== connection) return false;
    this.byIdMap.delete(connection.id);
    // Another connection may since have taken over the key; leave that one findable.
    const key = keyOf(connection);
    if (this.byKeyMap.get(key) === connection) this.byKeyMap.delete(key);
    return true;
  }

  byId(id: string): Connection | undefined {
    return this.byIdMap.get(id);
  }

  byAddress(protocol: TransportProtocol, address: string, port: number): Connection | undefined {
    return this.byKeyMap.get(connectionKey(protocol, address, port));
  }

  all(): Connection[] {
    return [...this.byIdMap.values()];
  }
}

function keyOf(connection: Connection): string {
  const { protocol, remoteAddress, remotePort } = connection.flow;
  return connectionKey(protocol, remoteAddress, remotePort);
}
