import { PBX_IP } from './pinhole';
import { RtpEndpoint } from './rtp-endpoint';
import { startSippServer, type SippOptions, type SippResult, type SippServer } from './sipp';

/** A SIPp PBX on 127.0.0.2 answering every call (b2b-pbx-answer.xml) with SDP naming its RtpEndpoint. */
export interface AnsweringPbx {
  sipp: SippServer;
  rtp: RtpEndpoint;
  stop(): Promise<SippResult>;
}

export async function startAnsweringPbx(port: number): Promise<AnsweringPbx> {
  const rtp = await RtpEndpoint.open({ address: PBX_IP });
  const sipp = startSippServer({
    scenario: 'b2b-pbx-answer.xml',
    localPort: port,
    localAddress: PBX_IP,
    keys: { sdp_ip: PBX_IP, rtp_port: String(rtp.port) },
  });
  try {
    await sipp.ready;
  } catch (err) {
    await rtp.close();
    throw err;
  }
  return {
    sipp,
    rtp,
    async stop() {
      const result = await sipp.stop();
      await rtp.close();
      return result;
    },
  };
}

/**
 * A SIPp PBX on 127.0.0.2 answering every INVITE (uas-answer-wait-bye.xml) and waiting for the
 * caller's BYE. Its SDP names SIPp's own media port, where nothing sends or counts RTP: for tests
 * about signalling only.
 */
export async function startPbxWithoutRtp(
  port: number,
  extra: Partial<SippOptions> = {},
): Promise<SippServer> {
  const pbx = startSippServer({
    scenario: 'uas-answer-wait-bye.xml',
    localPort: port,
    localAddress: PBX_IP,
    ...extra,
  });
  await pbx.ready;
  return pbx;
}
