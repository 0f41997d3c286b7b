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
