/**
 * Real calls through Pinhole with SIPp: an authenticated phone on 127.0.0.1 calls 2000, which
 * the routing sends to a SIPp PBX on 127.0.0.2. Used to prove Pinhole still completes calls
 * after an ordeal, and by the soak for steady call load.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { PHONE_IP } from '../../support/pinhole';
import { runSipp, type SippOptions, type SippResult } from '../../support/sipp';

/** `calls` authenticated calls (INVITE, 407, INVITE, 200, ACK, BYE) from user 1001 to 2000. */
export function phoneCalls(sipPort: number, extra: Partial<SippOptions> = {}): Promise<SippResult> {
  return runSipp({
    scenario: 'uac-call-auth.xml',
    remote: `${PHONE_IP}:${sipPort}`,
    localPort: 0,
    service: '2000',
    keys: { caller: '1001' },
    extraArgs: ['-au', '1001', '-ap', 'secret1001'],
    ...extra,
  });
}

/** V8's collector, reachable without starting node with --expose-gc. */
export function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/** Heap in use after a full collection, in MB. */
export function settledHeapMb(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed / 2 ** 20;
}
