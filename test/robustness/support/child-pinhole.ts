/**
 * Pinhole as its own process (`node dist/src/cli.js -c FILE`) on a robust-pinhole config, for
 * faults that take the whole process down. Unlike test/support/pinhole-process.ts (which writes
 * its own config and waits for the "pinhole started" log line at level info), it is ready once it
 * answers OPTIONS, since these configs log at level error. Spawned by spawnPinholeCli, so tracked
 * by test/support/processes.ts and a failing test leaves nothing running.
 */
import type { ChildProcess } from 'node:child_process';
import { PHONE_IP } from '../../support/pinhole';
import { spawnPinholeCli } from '../../support/pinhole-process';
import { optionsStatus } from './sip-probe';

const START_TIMEOUT_MS = 15000;

export interface ChildPinhole {
  child: ChildProcess;
  /** The last few KB of its stdout and stderr, for failure messages. */
  output(): string;
}

/** Starts the CLI on `configFile` and resolves once it answers OPTIONS over UDP. */
export async function startChildPinhole(configFile: string, sipPort: number): Promise<ChildPinhole> {
  const { child, output: everything } = spawnPinholeCli(configFile);
  const output = () => everything().slice(-8000);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`pinhole exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    if ((await optionsStatus({ protocol: 'udp', host: PHONE_IP, port: sipPort }, 200)) === 200)
      return { child, output };
  }
  throw new Error(`pinhole did not answer OPTIONS within ${START_TIMEOUT_MS} ms:\n${output()}`);
}
