import { z } from 'zod';
import { adminSchema, shutdownSchema } from '../admin/config';
import { CALLS_DEFAULTS, callsSchema } from '../b2bua/config';
import { GUARD_DEFAULTS, guardSchema } from '../guard/config';
import { mediaSchema } from '../nat/config';
import { webSchema } from '../web/config';

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

const cidr = z
  .string()
  .regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'expected an address or CIDR network, e.g. 10.0.0.0/24');

const registrarDefaults = {
  users: null,
  domain: null,
  mode: 'local' as const,
  relay: { upstreamExpires: 3600, sweepIntervalSeconds: 15 },
  store: 'bindings.json',
  expires: { default: 3600, min: 60, max: 7200, natUdp: 60 },
  maxContacts: 10,
  localNetworks: [],
  auth: { algorithms: ['MD5' as const, 'SHA-256' as const], nonceLifetimeSeconds: 300 },
  keepalive: { intervalSeconds: 30, maxFailures: 3 },
};

const registrarSchema = z
  .object({
    /** The domain AoRs are stored under (`sip:user@domain`) and the digest realm; default: the To host. */
    domain: z.string().min(1).nullable().default(null),
    /** users.yaml; without it REGISTER is not authenticated. */
    users: z.string().min(1).nullable().default(null),
    /** `relay`: REGISTER is forwarded to pbx.uri, which authenticates; Pinhole keeps the flows. */
    mode: z.enum(['local', 'relay']).default('local'),
    relay: z
      .object({
        /** Expiry asked of the PBX; phones get the shorter `expires` policy. */
        upstreamExpires: z.number().int().positive().default(3600),
        /** How often lapsed phone bindings are de-registered at the PBX. */
        sweepIntervalSeconds: z.number().int().positive().default(15),
      })
      .strict()
      .default(registrarDefaults.relay),
    /** A file path for the embedded journal store, or redis://host:port/db. */
    store: z.string().min(1).default('bindings.json'),
    expires: z
      .object({
        default: z.number().int().positive().default(3600),
        min: z.number().int().positive().default(60),
        max: z.number().int().positive().default(7200),
        /** Cap for NATed UDP bindings, so phones refresh their NAT mapping. */
        natUdp: z.number().int().positive().default(60),
      })
      .strict()
      .refine((e) => e.min <= e.default && e.default <= e.max, 'expected min <= default <= max')
      .default(registrarDefaults.expires),
    maxContacts: z.number().int().min(1).max(100).default(10),
    /** Operator networks that count as "behind NAT" like RFC 1918 space. */
    localNetworks: z.array(cidr).default([]),
    auth: z
      .object({
        algorithms: z
          .array(z.enum(['MD5', 'SHA-256']))
          .min(1)
          .default(['MD5', 'SHA-256']),
        nonceLifetimeSeconds: z.number().int().positive().default(300),
        /** Shared by Pinholes behind one name so each accepts the others' nonces; random if unset. */
        secret: z.string().min(16).optional(),
      })
      .strict()
      .default(registrarDefaults.auth),
    keepalive: z
      .object({
        /** OPTIONS to NATed UDP and to stream bindings every this many seconds; 0 turns it off. */
        intervalSeconds: z.number().int().min(0).default(30),
        /** A UDP binding is removed after this many failed keepalives in a row (streams after one). */
        maxFailures: z.number().int().positive().default(3),
      })
      .strict()
      .default(registrarDefaults.keepalive),
  })
  .strict();

const pbxSchema = z
  .object({
    uri: z
      .string()
      .regex(/^sips?:/, 'expected a sip: URI')
      .optional(),
    networks: z.array(cidr).default([]),
  })
  .strict();

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
        /**
         * `worker`: the embedded server runs in its own thread, so SIP parsing, timers and socket
         * writes use a second core beside the app's thread. `main`: in the app's thread.
         */
        thread: z.enum(['worker', 'main']).default('worker'),
      })
      .strict()
      .default({
        listen: ['udp://0.0.0.0:5060', 'tcp://0.0.0.0:5060', 'ws://0.0.0.0:8088'],
        server: 'embedded',
        control: { host: '127.0.0.1', port: 0 },
        timers: { t1: 500, t2: 4000, t4: 5000 },
        maxMessageSize: 65535,
        idleTimeoutSeconds: 3600,
        thread: 'worker',
      }),
    registrar: registrarSchema.default(registrarDefaults),
    pbx: pbxSchema.default({ networks: [] }),
    /** Calls through the B2BUA: routing rules, phone authentication, headers passed across. */
    calls: callsSchema.default(CALLS_DEFAULTS),
    /** Media anchoring through rtpengine; without it SDP passes with only unreachable addresses fixed. */
    media: mediaSchema.optional(),
    /** The softphone page. */
    web: webSchema.default({}),
    /** Admin HTTP: /healthz, /metrics, /api/*, the dashboard. Absent: not served. */
    admin: adminSchema.optional(),
    /** Flood and scanner protection in front of everything else. */
    guard: guardSchema.default(GUARD_DEFAULTS),
    shutdown: shutdownSchema.default({ drainSeconds: 60 }),
    log: z
      .object({ level: z.enum(['error', 'warn', 'info', 'debug']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type PinholeConfig = z.infer<typeof configSchema>;
export type SipConfig = PinholeConfig['sip'];
export type RegistrarConfig = PinholeConfig['registrar'];
export type PbxConfig = PinholeConfig['pbx'];
