/**
 * SIPp phones on a private LAN behind a "NAT" (their Via, Contact and SDP say 192.168.77.x while
 * packets come from 127.0.0.1) registering with Pinhole and calling a SIPp PBX on 127.0.0.2, as in
 * test/integration/b2bua.test.ts, for the dashboard test to look at.
 */
import * as assert from 'node:assert/strict';
import { PBX_IP, PHONE_IP } from '../../support/pinhole';
import { audioTarget, RtpEndpoint } from '../../support/rtp-endpoint';
import { registerSippPhone } from '../../support/sipp-phone';
import {
  startMediaCall,
  startMediaServer,
  type MediaSippCall,
  type MediaSippServer,
} from '../../support/sipp-media';

export const PASSWORDS: Record<string, string> = { '1001': 'secret1001', '1002': 'secret1002' };
/** A minute of 20 ms packets each way: longer than the test keeps the call up. */
const STREAM_PACKETS = 3000;
const SDP_TIMEOUT_MS = 10000;

export interface Phone {
  user: string;
  /** The private address the phone puts in Via, Contact and SDP. */
  lanIp: string;
  /** The UDP port it registers and calls from, so both share one flow (one NAT mapping). */
  port: number;
}

export function registerPhone(phone: Phone, sipPort: number): Promise<void> {
  return registerSippPhone(
    { user: phone.user, password: PASSWORDS[phone.user], localPort: phone.port, lanIp: phone.lanIp },
    sipPort,
  );
}

export interface LiveCall {
  /** The phone's SIPp: it waits for a BYE, answers it and exits. */
  phone: MediaSippCall;
  /** The PBX's SIPp (b2b-pbx-answer): answers, then takes a BYE. */
  pbx: MediaSippServer;
  phoneRtp: RtpEndpoint;
  pbxRtp: RtpEndpoint;
  /** Stops the RTP streams and the PBX; the phone's SIPp is left to the caller (stopAll). */
  close(): Promise<void>;
}

/**
 * `phone` calls 2000 at the PBX and both sides stream RTP to where rtpengine's SDP told them, from
 * the port their own SDP announced: a NAT that keeps ports, so rtpengine sees a cone.
 */
export async function startLiveCall(phone: Phone, sipPort: number, pbxPort: number): Promise<LiveCall> {
  const phoneRtp = await RtpEndpoint.open({ address: PHONE_IP });
  const pbxRtp = await RtpEndpoint.open({ address: PBX_IP });
  const pbx = startMediaServer({
    scenario: 'b2b-pbx-answer.xml',
    localPort: pbxPort,
    localAddress: PBX_IP,
    keys: { sdp_ip: PBX_IP, rtp_port: String(pbxRtp.port) },
    timeoutMs: 90000,
  });
  const close = async () => {
    await Promise.all([phoneRtp.close(), pbxRtp.close()]);
    await pbx.stop();
  };
  try {
    await pbx.ready;
    const call = startMediaCall({
      scenario: 'b2b-phone-call-wait-bye.xml',
      remote: `${PHONE_IP}:${sipPort}`,
      localPort: phone.port,
      service: '2000',
      keys: { caller: phone.user, sdp_ip: phone.lanIp, rtp_port: String(phoneRtp.port) },
      extraArgs: ['-au', phone.user, '-ap', PASSWORDS[phone.user]],
      timeoutMs: 90000,
    });
    streamTo(pbxRtp, await pbx.waitForSdp(1, SDP_TIMEOUT_MS));
    streamTo(phoneRtp, await call.waitForSdp(1, SDP_TIMEOUT_MS));
    return { phone: call, pbx, phoneRtp, pbxRtp, close };
  } catch (err) {
    await close();
    throw err;
  }
}

function streamTo(endpoint: RtpEndpoint, sdp: string): void {
  const target = audioTarget(sdp);
  assert.ok(target, `no audio target in\n${sdp}`);
  void endpoint.send(target, STREAM_PACKETS);
}
