/**
 * Pinhole as its own process (`node dist/src/cli.js -c FILE`), for faults that take the whole
 * process down. Tracked by test/support/processes.ts so a failing test leaves nothing running.
 */
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { PHONE_IP } from '../../support/pinhole';
import { spawnTracked } from '../../support/processes';
import { optionsStatus } from './sip-probe';

const CLI = path.resolve(__dirname, '../../../src/cli.js');
const START_TIMEOUT_MS = 15000;

export interface ChildPinhole {
  child: ChildProcess;
  /** The last few KB of its stdout and stderr, for failure messages. */
  output(): string;
}

/** Starts the CLI on `configFile` and resolves once it answers OPTIONS over UDP. */
export async function startChildPinhole(configFile: string, sipPort: number): Promise<ChildPinhole> {
  const child = spawnTracked(process.execPath, [CLI, '--config', configFile]);
  let out = '';
  const keep = (chunk: Buffer) => (out = (out + chunk.toString()).slice(-8000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`pinhole exited (${child.exitCode ?? child.signalCode}):\n${out}`);
    if ((await optionsStatus({ protocol: 'udp', host: PHONE_IP, port: sipPort }, 200)) === 200)
      return { child, output: () => out };
  }
  throw new Error(`pinhole did not answer OPTIONS within ${START_TIMEOUT_MS} ms:\n${out}`);
}
