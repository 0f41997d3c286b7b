import * as assert from 'node:assert/strict';
import { PHONE_IP } from './pinhole';
import { runSipp } from './sipp';

export interface SippPhone {
  user: string;
  password: string;
  /** The UDP port it registers from (calls from the same port share its NAT flow). */
  localPort: number;
  /** The private address its Via and Contact name, as a phone behind NAT does. */
  lanIp: string;
}

/** A SIPp phone on 127.0.0.1 registers with digest auth at Pinhole's `sipPort`; fails the test otherwise. */
export async function registerSippPhone(phone: SippPhone, sipPort: number): Promise<void> {
  const result = await runSipp({
    scenario: 'phone-register-auth.xml',
    remote: `${PHONE_IP}:${sipPort}`,
    localPort: phone.localPort,
    service: phone.user,
    keys: { sdp_ip: phone.lanIp },
    extraArgs: ['-au', phone.user, '-ap', phone.password],
  });
  assert.equal(result.successfulCalls, 1, result.messages + result.errors);
}

export interface PhoneCallOptions {
  /** Pinhole's SIP port on 127.0.0.1. */
  sipPort: number;
  /** Where the phone's RTP endpoint listens (its SDP names this port). */
  rtpPort: number;
  /** The private address the phone's SDP names, as behind NAT. */
  sdpIp: string;
  /** b2b-phone-call-wait-bye.xml (hold until BYE) unless given. */
  scenario?: string;
  pauseMs?: number;
  timeoutMs?: number;
}

/** Phone 1001 (digest secret1001) calls 2000 through Pinhole with RTP on `rtpPort`; runs until it ends. */
export function startPhoneCall(options: PhoneCallOptions): ReturnType<typeof runSipp> {
  return runSipp({
    scenario: options.scenario ?? 'b2b-phone-call-wait-bye.xml',
    remote: `${PHONE_IP}:${options.sipPort}`,
    localPort: 0,
    service: '2000',
    keys: { caller: '1001', sdp_ip: options.sdpIp, rtp_port: String(options.rtpPort) },
    extraArgs: ['-au', '1001', '-ap', 'secret1001'],
    pauseMs: options.pauseMs,
    timeoutMs: options.timeoutMs,
  });
}
