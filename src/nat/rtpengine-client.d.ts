/** The parts of npm rtpengine-client 0.4 that Pinhole uses; the package ships no types. */
declare module 'rtpengine-client' {
  import type { Socket } from 'node:dgram';
  import { EventEmitter } from 'node:events';

  export interface NgDestination {
    host: string;
    port: number;
  }

  export type NgResponse = Record<string, unknown> & { result?: string; 'error-reason'?: string };

  export class Client extends EventEmitter {
    constructor(options?: { localPort?: number; localAddress?: string; timeout?: number });
    ping(destination: NgDestination): Promise<NgResponse>;
    offer(destination: NgDestination, options: object): Promise<NgResponse>;
    answer(destination: NgDestination, options: object): Promise<NgResponse>;
    delete(destination: NgDestination, options: object): Promise<NgResponse>;
    query(destination: NgDestination, options: object): Promise<NgResponse>;
    statistics(destination: NgDestination, options: object): Promise<NgResponse>;
    close(): void;
    /** The UDP socket, bound in the constructor. */
    readonly socket: Socket;
  }

  export class RtpEngineError extends Error {}
}
