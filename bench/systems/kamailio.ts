import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'rtpengine-client';
import { rtpengineArgs, rtpengineCommand } from '../../src/nat/rtpengine-process';
import { isUdpPortFree } from '../../test/support/ports';
import { descendantsOf, sleep, waitFor, type ProcessSet } from '../lib/processes';
import {
  RTPENGINE,
  type BenchNetwork,
  type EdgeStartOptions,
  type EdgeSystem,
  type RunningEdge,
} from './edge';

const CONFIG = path.resolve(__dirname, '../../../bench/kamailio-bench.cfg');
const LOOPBACK = '127.0.0.1';
export const KAMAILIO_SIP_PORT = 15070;
const KAMAILIO_NG_PORT = 12223;
const KAMAILIO_BINARY = '/usr/sbin/kamailio';

/** htable's db_text table: key_name, key_type (0 single), value_type (0 string), value, expires. */
function writeUsersTable(dir: string, count: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const rows = ['key_name(str) key_type(int) value_type(int) key_value(str) expires(int)'];
  for (let n = 1; n <= count; n++) rows.push(`u${n}:0:0:pw${n}:0`);
  fs.writeFileSync(path.join(dir, 'users'), `${rows.join('\n')}\n`);
  fs.writeFileSync(path.join(dir, 'version'), 'table_name(str) table_version(int)\nusers:2\n');
}

async function ngAnswers(port: number): Promise<boolean> {
  const client = new Client({ timeout: 300 });
  client.on('error', () => undefined);
  try {
    const reply = await client.ping({ host: LOOPBACK, port }).catch(() => undefined);
    return reply?.result === 'pong';
  } finally {
    client.close();
  }
}

/** Debian's Kamailio with bench/kamailio-bench.cfg and its own rtpengine, started as Pinhole would. */
export class KamailioEdge implements EdgeSystem {
  readonly name = 'Kamailio';
  readonly sipPort = KAMAILIO_SIP_PORT;

  async start(procs: ProcessSet, network: BenchNetwork, options: EdgeStartOptions): Promise<RunningEdge> {
    if (await ngAnswers(KAMAILIO_NG_PORT))
      throw new Error(`something already answers ng on ${KAMAILIO_NG_PORT}`);
    // Started the way Pinhole starts its own (same arguments, open-files limit and death signal).
    const [command, args] = rtpengineCommand(
      '/usr/bin/rtpengine',
      rtpengineArgs({ ...RTPENGINE, ng: { host: LOOPBACK, port: KAMAILIO_NG_PORT } }),
    );
    const rtpengine = procs.spawn('rtpengine (kamailio)', command, args, {
      logFile: path.join(options.workDir, `kamailio-rtpengine-${options.mode}.log`),
    });
    await waitFor(() => !rtpengine.isRunning() || ngAnswers(KAMAILIO_NG_PORT), 10_000, 'rtpengine ng');
    const defines = [
      `SIP_LISTEN=udp:${LOOPBACK}:${this.sipPort}`,
      `PBX_HOST="${network.pbx.ip}"`,
      `PBX_PORT=${network.pbx.port}`,
      `NG_SOCK="udp:${LOOPBACK}:${KAMAILIO_NG_PORT}"`,
    ];
    if (options.mode === 'auth') {
      const db = path.join(options.workDir, 'kamailio-db');
      writeUsersTable(db, options.authUsers);
      defines.push('WITH_AUTH', `USERS_DB="text://${db}"`);
    }
    const logFile = path.join(options.workDir, `kamailio-${options.mode}.log`);
    const kamailio = procs.spawn(
      'kamailio',
      KAMAILIO_BINARY,
      ['-DD', '-E', '-m', '512', '-M', '16', '-f', CONFIG, ...defines.flatMap((d) => ['-A', d])],
      { logFile },
    );
    const stopBoth = async () => {
      await procs.stop(kamailio);
      await procs.stop(rtpengine);
    };
    try {
      await waitFor(
        async () => !kamailio.isRunning() || !(await isUdpPortFree(this.sipPort)),
        20_000,
        'Kamailio to listen',
      );
      if (!kamailio.isRunning()) throw new Error(`Kamailio exited at startup; see ${logFile}`);
      // The workers fork after the socket is bound; give them a moment to attach.
      await sleep(1000);
    } catch (err) {
      await stopBoth();
      throw err;
    }
    return { edgePids: () => [kamailio.pid, ...descendantsOf(kamailio.pid)], stop: stopBoth };
  }
}
