import { z } from 'zod';

const cidr = z
  .string()
  .regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'expected an address or CIDR network, e.g. 10.0.0.0/24');

/** A token bucket: `perSecond` refills, `burst` is how many may arrive back to back. */
const rate = (perSecond: number, burst: number) =>
  z
    .object({
      perSecond: z.number().positive().default(perSecond),
      burst: z.number().int().min(1).default(burst),
    })
    .strict()
    .default({ perSecond, burst });

/**
 * Tools that name themselves in User-Agent or in the From display name. Only attack tools:
 * generic strings seen in blocklists ("PBX", "voip", softphone SDKs) also name real phones.
 * Drawn from published SIP honeypot and iptables User-Agent blocklists (SIPVicious, sippts' pplsip,
 * VaxSIPUserAgent, iWar, sundayddr), leaving out the entries that also match real devices.
 */
export const DEFAULT_SCANNERS = [
  'friendly-scanner',
  'friendly-request',
  'sipvicious',
  'sipcli',
  'sip-scan',
  'sipscan',
  'sundayddr',
  'sundayaddr',
  'iwar',
  'vaxsipuseragent',
  'vaxipuseragent',
  'sivus',
  'pplsip',
  'siparmyknife',
];

/**
 * The `guard:` section of pinhole.yaml: flood and scanner protection in front of the apps.
 * Defaults suit a public edge: a phone (or an office of phones behind one NAT) re-registering,
 * answering keepalives and placing calls stays far below every limit.
 */
export const guardSchema = z
  .object({
    enabled: z.boolean().default(true),
    /**
     * Networks never limited or banned; the PBX networks are added to these at startup. Loopback
     * by default: nothing from the internet arrives from it, and local probes and apps must not be
     * banned.
     */
    trusted: z.array(cidr).default(['127.0.0.0/8', '::1/128']),
    /** Per source address (IPv6: per /64, which one host can fill with addresses). */
    rates: z
      .object({
        register: rate(20, 60),
        invite: rate(20, 60),
        /** OPTIONS, MESSAGE, SUBSCRIBE and the rest of new out-of-dialog requests. */
        other: rate(50, 100),
        /** Every packet, parsed or not, requests and responses, in dialog or not. */
        packets: rate(300, 600),
      })
      .strict()
      .default({
        register: { perSecond: 20, burst: 60 },
        invite: { perSecond: 20, burst: 60 },
        other: { perSecond: 50, burst: 100 },
        packets: { perSecond: 300, burst: 600 },
      }),
    /** Retry-After on the 503 sent for a REGISTER or INVITE over its rate. */
    retryAfterSeconds: z.number().int().min(1).max(3600).default(30),
    ban: z
      .object({
        seconds: z.number().int().min(1).default(300),
        /** Counting window for the strike limits below. */
        windowSeconds: z.number().int().min(1).default(60),
        /** Requests or packets over their rate within the window; 0 never bans for rate. */
        rateStrikes: z.number().int().min(0).default(100),
        /** Unparsable messages within the window; 0 never bans for garbage. */
        badInput: z.number().int().min(0).default(20),
        /** Ban a source on its first request from a scanner. */
        scanners: z.boolean().default(true),
      })
      .strict()
      .default({ seconds: 300, windowSeconds: 60, rateStrikes: 100, badInput: 20, scanners: true }),
    /** Case-insensitive substrings of User-Agent or the From display name; matches are dropped. */
    scanners: z.array(z.string().min(3)).default(DEFAULT_SCANNERS),
    /** Brute force: 403s after a challenge (REGISTER by To user, INVITE by From user). */
    authFailures: z
      .object({
        windowSeconds: z.number().int().min(1).default(300),
        /** Failures from one source before it is banned; 0 turns it off. */
        perSource: z.number().int().min(0).default(10),
        /**
         * Failures for one user (from any sources) before that user is locked: while locked,
         * only sources that have logged in successfully before may try that user.
         */
        perUser: z.number().int().min(0).default(20),
      })
      .strict()
      .default({ windowSeconds: 300, perSource: 10, perUser: 20 }),
    /** Memory bounds: the least recently seen source (or user) is forgotten beyond these. */
    maxSources: z.number().int().min(100).default(20000),
    maxUsers: z.number().int().min(100).default(10000),
    maxBans: z.number().int().min(100).default(10000),
    /** A source not heard from this long is forgotten; long enough to outlive a registration. */
    idleSeconds: z.number().int().min(10).default(4000),
  })
  .strict();

export type GuardConfig = z.output<typeof guardSchema>;

export const GUARD_DEFAULTS: GuardConfig = guardSchema.parse({});
