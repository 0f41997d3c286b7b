import type Srf from 'drachtio-srf';
import type { Logger } from '../logging';
import type { Registrar } from '../registrar';

/** Methods the edge will handle once the registrar and B2BUA are in place. */
const NOT_YET_SERVED = ['invite', 'message', 'subscribe', 'notify', 'info', 'publish'] as const;

const ALLOW =
  'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, INFO, UPDATE, PRACK, NOTIFY, SUBSCRIBE, REFER';

/**
 * The Pinhole application on drachtio-srf. It answers OPTIONS (health probes and keepalives
 * from phones and PBXs) and REGISTER through the registrar; other out-of-dialog requests are
 * refused truthfully with 501.
 */
export function installApp(srf: Srf, logger: Logger, registrar: Registrar): void {
  registrar.install(srf);
  srf.use('options', (req, res) => {
    res.send(200, { headers: { Allow: ALLOW, Accept: 'application/sdp' } });
    logger.debug('OPTIONS answered', {
      source: `${req.source_address}:${req.source_port}`,
      protocol: req.protocol,
    });
  });
  for (const method of NOT_YET_SERVED) {
    srf.use(method, (req, res) => {
      logger.info('request refused: not served yet', {
        method: req.method,
        callId: req.get('Call-ID'),
        source: req.source_address,
      });
      res.send(501, 'Not Implemented', { headers: { Allow: 'OPTIONS' } });
    });
  }
}
