import { z } from 'zod';

const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!%'*+.^_`|~-]+$/, 'expected a SIP header name, optionally ending in * (e.g. X-*)');

/** The `calls:` section of pinhole.yaml. */
export const callsSchema = z
  .object({
    /** Ordered routing rules, hot-reloaded (path relative to pinhole.yaml). */
    routing: z.string().min(1).default('routing.yaml'),
    /**
     * How a phone proves who it is on INVITE. `digest`: 407 challenge with the registrar's users.
     * `registered-flow`: the INVITE must arrive on the flow the From user registered from.
     * `auto`: digest when registrar.users is set, otherwise registered-flow.
     */
    phoneAuth: z.enum(['auto', 'digest', 'registered-flow']).default('auto'),
    /** Headers copied from one leg's INVITE to the other's; a trailing * matches a prefix. */
    passHeaders: z
      .array(headerName)
      .default(['Alert-Info', 'Call-Info', 'Priority', 'Subject', 'User-to-User', 'P-Asserted-Identity']),
    /** Give up on an unanswered call after this long (480 No Answer to the caller). */
    ringTimeoutSeconds: z.number().int().min(5).max(3600).default(120),
    /** Retry-After on 503 when no target or no rtpengine answers. */
    retryAfterSeconds: z.number().int().min(1).max(3600).default(30),
    /**
     * An anchored call whose media stopped both ways for this long is ended with BYE on both legs
     * (a phone that lost power never says goodbye); 0 turns it off. Hold with music keeps a call up.
     */
    mediaTimeoutSeconds: z.number().int().min(0).max(86_400).default(120),
    /**
     * Calls in progress per phone user and per source address (IPv6: per /64); 0 means no cap.
     * Over the cap a call gets 486. Calls from the PBX are never capped.
     */
    limits: z
      .object({
        perUser: z.number().int().min(0).default(10),
        perSource: z.number().int().min(0).default(50),
      })
      .strict()
      .default({ perUser: 10, perSource: 50 }),
  })
  .strict();

export type CallsConfig = z.output<typeof callsSchema>;

export const CALLS_DEFAULTS: CallsConfig = callsSchema.parse({});
