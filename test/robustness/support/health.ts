/**
 * "Still healthy" after an ordeal: Pinhole answers an ordinary OPTIONS over UDP and TCP and
 * registers a user, and once the timers of what it was sent have run, no transaction, dialog,
 * call, rtpengine session or TCP connection is left over.
 */
import * as assert from 'node:assert/strict';
import { eventually } from '../../support/embedded';
import { PHONE_IP } from '../../support/pinhole';
import type { RobustPinhole } from './robust-pinhole';
import { optionsStatus, register } from './sip-probe';

/** Longest a FAST_TIMERS transaction lives (Timer H/J = 64*T1 plus Timer I), with slack. */
const DRAIN_MS = 8000;

export async function assertServes(pinhole: RobustPinhole, contactPort = 5062): Promise<void> {
  const udp = { protocol: 'udp' as const, host: PHONE_IP, port: pinhole.sipPort };
  const tcp = { protocol: 'tcp' as const, host: PHONE_IP, port: pinhole.sipPort };
  assert.equal(await optionsStatus(udp), 200, 'OPTIONS over UDP');
  assert.equal(await optionsStatus(tcp), 200, 'OPTIONS over TCP');
  const registered = await register(udp, {
    user: '1001',
    password: 'secret1001',
    contact: `<sip:1001@192.168.1.60:${contactPort}>`,
  });
  assert.equal(registered.status, 200, `REGISTER: ${registered.reply ?? 'no final response'}`);
}

export async function assertNothingLeft(pinhole: RobustPinhole): Promise<void> {
  const server = pinhole.running.sipServer;
  assert.ok(server, 'the embedded SIP server runs');
  const snapshot = () =>
    JSON.stringify({ ...pinhole.leftovers(), stats: server.stats() }, (key, value: unknown) =>
      key === 'received' || key === 'sent' ? undefined : value,
    );
  await eventually(
    () => {
      const left = pinhole.leftovers();
      const stats = server.stats();
      return (
        left.calls === 0 &&
        left.media === 0 &&
        left.dialogs === 0 &&
        pinhole.transactions() === 0 &&
        stats.inboundRequests === 0 &&
        stats.outboundRequests === 0 &&
        stats.pendingAcks === 0 &&
        stats.transport.connectionsOpen === 0
      );
    },
    'no transactions, dialogs, calls, media or connections left',
    DRAIN_MS,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; at the end: ${snapshot()}`);
  });
  assert.equal(server.stats().apps, 1, 'the app is still connected to the SIP server');
}
