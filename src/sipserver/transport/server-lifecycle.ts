import type { Server, Socket } from 'node:net';

/**
 * Binds a server and, until it closes, remembers every accepted socket, including ones still in
 * a TLS or WebSocket handshake, so closing the listener does not wait on slow peers.
 */
export class ManagedServer {
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly server: Server,
    onError: (err: Error) => void,
  ) {
    // Errors before listening reject listen(); later ones (EMFILE on accept...) must not crash us.
    server.on('error', (err: Error) => {
      if (server.listening) onError(err);
    });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  listen(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: address, port, exclusive: true }, () => {
        this.server.off('error', onError);
        const bound = this.server.address();
        resolve(typeof bound === 'object' && bound ? bound.port : port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }
}
