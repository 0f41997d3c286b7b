import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { commandOf, descendantsOf, sleep, waitFor, type ProcessSet } from '../lib/processes';
import type { EdgeStartOptions, EdgeSystem, RunningEdge } from './edge';

const ROOT = path.resolve(__dirname, '../../..');
const CONFIG = path.join(ROOT, 'bench/pinhole-bench.yaml');
const CLI = path.join(ROOT, 'dist/src/cli.js');

/** A users.yaml with u1..uN (password pwN), the same users as Kamailio's table. */
function writeUsersYaml(file: string, count: number): void {
  const lines: string[] = [];
  for (let n = 1; n <= count; n++) lines.push(`u${n}: { password: pw${n} }`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

/**
 * bench/pinhole-bench.yaml as is, or (auth mode) a copy in the work folder with registrar.users
 * set; paths in the copy are made absolute because it lives elsewhere.
 */
function configFor(options: EdgeStartOptions): string {
  if (options.mode === 'open') return CONFIG;
  const doc = parseDocument(fs.readFileSync(CONFIG, 'utf8'));
  const users = path.join(options.workDir, 'pinhole-users.yaml');
  writeUsersYaml(users, options.authUsers);
  doc.setIn(['registrar', 'users'], users);
  doc.setIn(['calls', 'routing'], path.join(ROOT, 'bench', String(doc.getIn(['calls', 'routing']))));
  const file = path.join(options.workDir, 'pinhole-bench-auth.yaml');
  fs.writeFileSync(file, doc.toString());
  return file;
}

/** Reads the SIP port from pinhole-bench.yaml, so the file stays the one place it is set. */
function sipPortOf(config: string): number {
  const doc = parseDocument(fs.readFileSync(config, 'utf8'));
  const listen = doc.getIn(['sip', 'listen']) as { items: { value: string }[] };
  return Number(/:(\d+)$/.exec(listen.items[0].value)![1]);
}

/** The real product: `node dist/src/cli.js --config bench/pinhole-bench.yaml`, own process. */
export class PinholeEdge implements EdgeSystem {
  readonly name = 'Pinhole';
  readonly sipPort = sipPortOf(CONFIG);

  async start(procs: ProcessSet, _network: unknown, options: EdgeStartOptions): Promise<RunningEdge> {
    const store = String(parseDocument(fs.readFileSync(CONFIG, 'utf8')).getIn(['registrar', 'store']));
    // A fresh registrar each start: replaying 100k bindings would skew the next measurement.
    fs.rmSync(store, { force: true });
    const logFile = path.join(options.workDir, `pinhole-${options.mode}-${Date.now()}.log`);
    fs.rmSync(logFile, { force: true });
    const nodeArgs = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [];
    const node = procs.spawn(
      'pinhole',
      process.execPath,
      [...nodeArgs, CLI, '--config', configFor(options)],
      {
        cwd: ROOT,
        logFile,
      },
    );
    const started = () =>
      fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('pinhole started');
    try {
      await waitFor(() => !node.isRunning() || started(), 30_000, 'Pinhole to start');
    } catch (err) {
      await procs.stop(node);
      throw err;
    }
    if (!node.isRunning()) throw new Error(`Pinhole exited at startup; see ${logFile}`);
    return {
      edgePids: () => [node.pid, ...descendantsOf(node.pid).filter((pid) => commandOf(pid) !== 'rtpengine')],
      stop: async () => {
        // SIGINT stops at once (SIGTERM would drain calls first) yet cleanly: Pinhole stops its
        // rtpengine and Node writes the CPU profile on exit.
        // Calls left over from an overloaded step make Pinhole's stop wait for their BYEs to time
        // out (~32 s); a killed Node writes no profile, so wait longer when profiling.
        await procs.stop(node, 'SIGINT', options.profileDir ? 90_000 : 30_000);
        await sleep(200);
      },
    };
  }
}
