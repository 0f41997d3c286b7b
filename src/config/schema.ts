import { z } from 'zod';

const listenUrl = z
  .string()
  .regex(
    /^(udp|tcp|tls|ws|wss):\/\/(\[[0-9a-fA-F:.]+\]|[^:/\s]+):[0-9]{1,5}$/,
    'expected PROTOCOL://HOST:PORT, e.g. udp://0.0.0.0:5060',
  );

const hostPort = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  secret: z.string().min(1),
});

/** One schema for pinhole.yaml: the config types below are derived from it. */
export const configSchema = z
  .object({
    sip: z
      .object({
        listen: z
          .array(listenUrl)
          .min(1)
          .default(['udp://0.0.0.0:5060', 'tcp://0.0.0.0:5060', 'ws://0.0.0.0:8088']),
        advertise: z.string().min(1).optional(),
        /** `embedded`, or the address of a drachtio-server to use instead. */
        server: z.union([z.literal('embedded'), hostPort]).default('embedded'),
        /** Where the embedded server's drachtio control port listens (loopback; port 0 picks one). */
        control: z
          .object({
            host: z.string().default('127.0.0.1'),
            port: z.number().int().min(0).max(65535).default(0),
            secret: z.string().min(1).optional(),
          })
          .strict()
          .default({ host: '127.0.0.1', port: 0 }),
        timers: z
          .object({
            t1: z.number().int().positive().default(500),
            t2: z.number().int().positive().default(4000),
            t4: z.number().int().positive().default(5000),
          })
          .strict()
          .default({ t1: 500, t2: 4000, t4: 5000 }),
        tls: z.object({ cert: z.string(), key: z.string() }).strict().optional(),
        maxMessageSize: z.number().int().min(1024).max(1_048_576).default(65535),
        idleTimeoutSeconds: z.number().int().positive().default(3600),
      })
      .strict()
      .default({
        listen: ['udp://0.0.0.0:5060', 'tcp://0.0.0.0:5060', 'ws://0.0.0.0:8088'],
        server: 'embedded',
        control: { host: '127.0.0.1', port: 0 },
        timers: { t1: 500, t2: 4000, t4: 5000 },
        maxMessageSize: 65535,
        idleTimeoutSeconds: 3600,
      }),
    log: z
      .object({ level: z.enum(['error', 'warn', 'info', 'debug']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type PinholeConfig = z.infer<typeof configSchema>;
export type SipConfig = PinholeConfig['sip'];
