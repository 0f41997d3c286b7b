import { z } from 'zod';
import { HOST_PORT } from '../config/host-port';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/;

/** The `admin:` section of pinhole.yaml: the HTTP API, /metrics and the dashboard. */
export const adminSchema = z
  .object({
    /** HOST:PORT; loopback by default so the API is not on the network unless asked for. */
    listen: z.string().regex(HOST_PORT, 'expected HOST:PORT, e.g. 127.0.0.1:8090').default('127.0.0.1:8090'),
    /** Bearer token required on every request except /healthz; required off loopback. */
    token: z.string().min(16, 'a token needs at least 16 characters').optional(),
    /** How many ended calls /api/records keeps. */
    recentRecords: z.number().int().min(0).max(10_000).default(200),
  })
  .strict()
  .refine(
    (admin) =>
      admin.token !== undefined || LOOPBACK.test(admin.listen.slice(0, admin.listen.lastIndexOf(':'))),
    { message: 'admin.listen off loopback needs admin.token', path: ['token'] },
  );

export type AdminConfig = z.output<typeof adminSchema>;

/** The `shutdown:` section: what SIGTERM does. */
export const shutdownSchema = z
  .object({
    /** Calls up at SIGTERM may go on this long (new calls get 503); the rest are hung up. */
    drainSeconds: z.number().int().min(0).max(86_400).default(60),
  })
  .strict();

export type ShutdownConfig = z.output<typeof shutdownSchema>;
