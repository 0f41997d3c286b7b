#!/usr/bin/env node
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { RoutingError, RoutingRules } from './b2bua/routing';
import { parseHostPort } from './config/host-port';
import { ConfigError, loadConfigFile } from './config/load';
import { createLogger } from './logging';
import { startPinhole, type RunningPinhole } from './pinhole';
import { EmbeddedSipServer } from './sipserver';

/**
 * drachtio-srf reads process.env.DRACHTIO_PRESERVE_HEADER_NAMES for every header name of every
 * message, and each read of Node's process.env calls into C++ (~0.4 µs): in a REGISTER storm that
 * was the largest single cost on the app's thread. A plain copy holds the same values for every
 * JavaScript reader and for the processes we spawn (rtpengine).
 */
process.env = { ...process.env };

function onSignals(stop: () => Promise<void>): void {
  const handler = (signal: string) => {
    process.stderr.write(`${signal}: stopping\n`);
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

/**
 * SIGTERM drains (systemd's stop: calls may finish), SIGINT stops at once (a person at a terminal);
 * a signal during a drain stops at once, one more exits without cleanup. SIGHUP re-reads the config.
 */
function onLifecycleSignals(
  starting: Promise<RunningPinhole>,
  configFile: string,
  log: (message: string) => void,
): void {
  let state: 'running' | 'draining' | 'stopping' = 'running';
  const finish = (work: (running: RunningPinhole) => Promise<void>) =>
    void starting.then(work).then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`pinhole: stopping failed: ${err.message}\n`);
        process.exit(1);
      },
    );
  const onStopSignal = (signal: NodeJS.Signals) => {
    if (state === 'stopping') process.exit(1);
    if (state === 'running' && signal === 'SIGTERM') {
      state = 'draining';
      log('SIGTERM: draining calls');
      finish((running) => running.drain());
      return;
    }
    state = 'stopping';
    log(`${signal}: stopping`);
    finish((running) => running.stop());
  };
  process.on('SIGTERM', onStopSignal);
  process.on('SIGINT', onStopSignal);
  process.on('SIGHUP', () => {
    void starting.then((running) => {
      try {
        running.reload(loadConfigFile(configFile));
      } catch (err) {
        process.stderr.write(
          `SIGHUP: ${err instanceof ConfigError ? err.message : String(err)}; nothing changed\n`,
        );
      }
    });
  });
}

const program = new Command()
  .name('pinhole')
  .description('SIP edge for phones behind NAT, in front of a PBX')
  .option('-c, --config <file>', 'configuration file', 'config/pinhole.yaml')
  .option('--check', 'validate the configuration and exit')
  .action(async (opts: { config: string; check?: boolean }) => {
    let config;
    try {
      config = loadConfigFile(opts.config);
    } catch (err) {
      process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
      process.exit(2);
    }
    const configDir = path.dirname(path.resolve(opts.config));
    if (opts.check) {
      const routingFile = path.resolve(configDir, config.calls.routing);
      try {
        const rules = RoutingRules.load(routingFile);
        process.stdout.write(`${opts.config}: OK\n${routingFile}: OK (${rules.ruleCount} rules)\n`);
      } catch (err) {
        process.stderr.write(`${err instanceof RoutingError ? err.message : String(err)}\n`);
        process.exit(2);
      }
      return;
    }
    const logger = createLogger(config.log.level);
    // A SIP server thread that died is a bug; exiting lets systemd (Restart=on-failure) restart us.
    const starting = startPinhole(config, configDir, logger, { onSipServerLost: () => process.exit(1) });
    // Before startup finishes, so a signal during it still stops what has started (rtpengine).
    onLifecycleSignals(starting, opts.config, (message) => logger.info(message));
    await starting;
  });

program
  .command('sip-server')
  .description('run the embedded drachtio-compatible SIP server alone (a drop-in for drachtio-server)')
  .requiredOption('-l, --listen <url...>', 'SIP listener, e.g. udp://127.0.0.1:5090 (repeatable)')
  .option('--control <host:port>', 'drachtio control address for apps', '127.0.0.1:9022')
  .addOption(
    new Option('--secret <secret>', 'secret apps authenticate with')
      .env('PINHOLE_SECRET')
      .makeOptionMandatory(),
  )
  .option('--advertise <address>', 'public address for Via/Contact')
  .option('--log-level <level>', 'error | warn | info | debug', 'info')
  .action(
    async (opts: {
      listen: string[];
      control: string;
      secret: string;
      advertise?: string;
      logLevel: string;
    }) => {
      const logger = createLogger(opts.logLevel, 'pinhole-sip-server');
      const control = parseHostPort(opts.control);
      if (!control) throw new Error(`expected HOST:PORT, got ${opts.control}`);
      const server = new EmbeddedSipServer({
        listen: opts.listen,
        control: { ...control, secret: opts.secret },
        advertise: opts.advertise,
        logger,
      });
      await server.start();
      for (const p of server.listeningPoints)
        process.stdout.write(`listening on ${p.protocol}://${p.address}:${p.port}\n`);
      process.stdout.write(
        `drachtio control on ${server.controlAddress.host}:${server.controlAddress.port}\n`,
      );
      onSignals(() => server.stop());
    },
  );

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`pinhole: ${err.message}\n`);
  process.exit(1);
});
