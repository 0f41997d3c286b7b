/**
 * Calls per second through a plain createB2BUA app on the embedded SIP server:
 * sipp UAC -> Pinhole (embedded server + drachtio-srf B2BUA) -> sipp UAS, on loopback, zero hold
 * time, ramped until a step has a failed call. Prints a table; not part of `make test`.
 *
 *   make bench                 (or: node dist/bench/b2bua-bench.js [--seconds 5] [--start 100])
 */
import { spawn } from 'node:child_process';
import Srf from 'drachtio-srf';
import { EmbeddedSipServer } from '../src/sipserver';
import { allocatePort } from '../test/support/ports';

const SECRET = 'bench';
const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n';

interface Step {
  rate: number;
  calls: number;
  failed: number;
  seconds: number;
  rssMb: number;
}

function arg(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
}

function sipp(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('sipp', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

async function main(): Promise<void> {
  const seconds = arg('seconds', 5);
  let rate = arg('start', 100);
  const sipPort = await allocatePort();
  const uasPort = await allocatePort();
  const uacPort = await allocatePort();
  const server = new EmbeddedSipServer({
    listen: [`udp://127.0.0.1:${sipPort}`],
    control: { host: '127.0.0.1', port: 0, secret: SECRET },
  });
  await server.start();
  const srf = new Srf();
  srf.invite((req, res) => {
    srf
      .createB2BUA(req, res, `sip:callee@127.0.0.1:${uasPort}`, { localSdpB: req.body || SDP })
      .then(({ uas, uac }) => {
        uas.on('destroy', () => uac.destroy());
        uac.on('destroy', () => uas.destroy());
      })
      .catch(() => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    srf.once('connect', (err: Error | null) => (err ? reject(err) : resolve()));
    srf.connect({ ...server.controlAddress, secret: SECRET });
  });

  const uas = spawn(
    'sipp',
    [
      '-sn',
      'uas',
      '-i',
      '127.0.0.1',
      '-p',
      String(uasPort),
      '-nostdin',
      ...(process.env.BENCH_TRACE ? ['-trace_msg', '-message_file', '/tmp/pinhole-bench-uas.msg'] : []),
    ],
    {
      stdio: 'ignore',
    },
  );
  await new Promise((r) => setTimeout(r, 500));
  const steps: Step[] = [];
  try {
    for (;;) {
      const calls = Math.round(rate * seconds);
      const started = Date.now();
      const code = await sipp([
        '-sn',
        'uac',
        '-i',
        '127.0.0.1',
        '-p',
        String(uacPort),
        '-nostdin',
        '-r',
        String(rate),
        '-m',
        String(calls),
        '-l',
        String(Math.max(200, rate * 4)),
        '-d',
        '0',
        ...(process.env.BENCH_TRACE
          ? ['-trace_msg', '-message_file', `/tmp/pinhole-bench-uac-${rate}.msg`]
          : []),
        '-trace_err',
        '-error_file',
        `/tmp/pinhole-bench-uac-${rate}.err`,
        '-timeout',
        String(seconds * 4 + 20) + 's',
        '-timeout_error',
        `127.0.0.1:${sipPort}`,
      ]);
      const step: Step = {
        rate,
        calls,
        failed: code === 0 ? 0 : -1,
        seconds: (Date.now() - started) / 1000,
        rssMb: Math.round(process.memoryUsage().rss / 1048576),
      };
      steps.push(step);
      process.stdout.write(
        `rate ${rate}/s: ${code === 0 ? 'ok' : `failures (sipp exit ${code})`} in ${step.seconds.toFixed(1)} s\n`,
      );
      if (code !== 0 || rate >= 5000) break;
      rate = Math.round(rate * 1.5);
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    uas.kill('SIGTERM');
    srf.disconnect();
    await server.stop();
  }
  const best = steps.filter((s) => s.failed === 0).pop();
  process.stdout.write(
    '\n| offered calls/s | calls | result | wall s | RSS MB |\n|---:|---:|---|---:|---:|\n',
  );
  for (const s of steps)
    process.stdout.write(
      `| ${s.rate} | ${s.calls} | ${s.failed === 0 ? 'no failed call' : 'failed calls'} | ${s.seconds.toFixed(1)} | ${s.rssMb} |\n`,
    );
  process.stdout.write(`\nhighest rate with zero failed calls: ${best ? best.rate : 'none'} calls/s\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
