import { z } from 'zod';
import { HOST_PORT } from '../config/host-port';
import { parseCidr } from './address-class';

const cidr = z.string().refine(
  (text) => {
    try {
      parseCidr(text);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'expected an IP network such as 10.0.0.0/8 or fd00::/8' },
);

const hostPort = z.string().regex(HOST_PORT, 'expected HOST:PORT, e.g. 127.0.0.1:22222');

const portRange = z
  .string()
  .regex(/^\d{1,5}-\d{1,5}$/, 'expected A-B, e.g. 30000-40000')
  .transform((text) => {
    const [min, max] = text.split('-').map(Number);
    return { min, max };
  })
  .refine(({ min, max }) => min >= 1024 && max <= 65535 && min < max, {
    message: 'port range must lie within 1024-65535 with A < B',
  });

/** An rtpengine interface: NAME is what `direction` names; ADDRESS may be `LOCAL!ADVERTISED`. */
const rtpInterface = (defaultName: string) =>
  z.union([
    z
      .string()
      .min(1)
      .transform((address) => ({ name: defaultName, address })),
    z.object({ name: z.string().regex(/^[A-Za-z0-9_-]+$/), address: z.string().min(1) }).strict(),
  ]);

/** The `media:` section of pinhole.yaml. */
export const mediaSchema = z
  .object({
    /** Anchor every call, only calls with a NATed or WebRTC leg, or none (rewrite c= instead). */
    anchor: z.enum(['always', 'nat', 'never']).default('nat'),
    latching: z.enum(['strict-source', 'media-handover']).default('strict-source'),
    /** Operator networks that count as unreachable from outside, like RFC 1918 space. */
    localNetworks: z.array(cidr).default([]),
    rtpengine: z
      .object({
        /** Start Debian's rtpengine ourselves (and restart it) instead of using a running one. */
        spawn: z.boolean().default(false),
        binary: z.string().min(1).default('/usr/bin/rtpengine'),
        interfaces: z
          .object({ external: rtpInterface('external'), internal: rtpInterface('internal') })
          .strict(),
        ports: portRange.default({ min: 30000, max: 40000 }),
        ng: z.array(hostPort).min(1).default(['127.0.0.1:22222']),
        timeoutMs: z.number().int().min(100).max(30000).default(2000),
        pingIntervalMs: z.number().int().min(500).default(5000),
      })
      .strict(),
  })
  .strict();

export type MediaConfig = z.output<typeof mediaSchema>;
export type AnchorPolicy = MediaConfig['anchor'];
