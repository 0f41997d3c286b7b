import * as net from 'node:net';
import { EventEmitter } from 'node:events';
import { ControlConnection, type AppSipCommand, type ControlIdentity } from './control-connection';
import type { WireLogger } from './logger';

/**
 * Accepts app connections on the control port and picks an app for each new request:
 * round-robin over the authenticated apps that routed the method, as drachtio-server does.
 * Emits 'sip' (app, command) and 'app-closed' (app).
 */
export class ControlListener extends EventEmitter {
  private server: net.Server | null = null;
  private readonly apps: ControlConnection[] = [];
  private nextIndex = 0;
  protocolErrors = 0;

  constructor(
    private readonly identity: ControlIdentity,
    private readonly logger: WireLogger,
  ) {
    super();
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.accept(socket));
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.logger.warn('control listener error', { err: err.message }));
        this.server = server;
        resolve(server.address() as net.AddressInfo);
      });
    });
  }

  /** The next app that wants `method`, or null when none does. */
  pick(method: string): ControlConnection | null {
    const count = this.apps.length;
    for (let i = 0; i < count; i++) {
      const app = this.apps[(this.nextIndex + i) % count];
      if (app.wants(method)) {
        this.nextIndex = (this.nextIndex + i + 1) % count;
        return app;
      }
    }
    return null;
  }

  get connectedApps(): number {
    return this.apps.filter((a) => a.authenticated).length;
  }

  close(): Promise<void> {
    for (const app of this.apps) app.close();
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server = null;
    });
  }

  private accept(socket: net.Socket): void {
    const app = new ControlConnection(socket, this.identity, this.logger, () => {
      this.protocolErrors++;
    });
    this.apps.push(app);
    app.on('sip', (command: AppSipCommand) => this.emit('sip', app, command));
    app.on('close', () => {
      const index = this.apps.indexOf(app);
      if (index >= 0) this.apps.splice(index, 1);
      if (app.authenticated) this.logger.info('app disconnected', { app: app.id });
      this.emit('app-closed', app);
    });
  }
}
