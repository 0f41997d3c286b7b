import { z } from 'zod';
import { HOST_PORT } from '../config/host-port';

/** The `web:` section of pinhole.yaml. */
export const webSchema = z
  .object({
    /**
     * The SIP.js softphone page. Browsers allow the microphone only on https:// pages or on
     * http://localhost / 127.0.0.1, so anything else needs `tls: true` (uses sip.tls).
     */
    softphone: z
      .object({
        listen: z.string().regex(HOST_PORT, 'expected HOST:PORT, e.g. 127.0.0.1:8089'),
        tls: z.boolean().default(false),
        /** Where the page's SIP.js connects; default: the first ws:// or wss:// of sip.listen. */
        sipWebSocketUrl: z
          .string()
          .regex(/^wss?:\/\//, 'expected a ws:// or wss:// URL')
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type WebConfig = z.output<typeof webSchema>;
