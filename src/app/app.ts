import type Srf from 'drachtio-srf';
import type { Logger } from '../logging';
import type { B2bua } from '../b2bua';
import type { SrfForCalls } from '../b2bua/srf-types';
import type { Registrar } from '../registrar';

/** Out-of-dialog requests an edge in front of a PBX does not serve itself. */
const NOT_SERVED = ['message', 'subscribe', 'notify', 'info', 'publish'] as const;

/** Option tags Pinhole implements end to end: RFC 3262 reliable provisional responses. */
const SUPPORTED = new Set(['100rel']);

const ALLOW =
  'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, INFO, UPDATE, PRACK, NOTIFY, SUBSCRIBE, REFER';

/**
 * The Pinhole application on drachtio-srf. It answers OPTIONS (health probes and keepalives
 * from phones and PBXs), REGISTER through the registrar and INVITE through the B2BUA; other
 * out-of-dialog requests are refused truthfully with 501.
 */
export function installApp(srf: Srf, logger: Logger, registrar: Registrar, b2bua: B2bua): void {
  registrar.install(srf);
  b2bua.install(srf as unknown as SrfForCalls);
  srf.use('options', (req, res) => {
    // RFC 3261 §8.2.2.3: an extension the request requires and we lack is refused with 420.
    const unsupported = (req.get('Require') ?? '')
      .split(',')
      .map((tag) => tag.trim())
      .filter((tag) => tag !== '' && !SUPPORTED.has(tag.toLowerCase()));
    if (unsupported.length > 0) {
      res.send(420, 'Bad Extension', { headers: { Unsupported: unsupported.join(', ') } });
      return;
    }
    res.send(200, {
      headers: { Allow: ALLOW, Accept: 'application/sdp', Supported: [...SUPPORTED].join(', ') },
    });
    logger.debug('OPTIONS answered', {
      source: `${req.source_address}:${req.source_port}`,
      protocol: req.protocol,
    });
  });
  for (const method of NOT_SERVED) {
    srf.use(method, (req, res) => {
      logger.info('request refused: not served', {
        method: req.method,
        callId: req.get('Call-ID'),
        source: req.source_address,
      });
      res.send(501, 'Not Implemented', { headers: { Allow: 'OPTIONS' } });
    });
  }
}
