import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { PbxConfig, RegistrarConfig } from '../config/schema';
import type { Logger } from '../logging';
import { DigestAuthenticator } from './authenticator';
import { FileBindingStore } from './file-store';
import { RedisBindingStore } from './redis-store';
import { Registrar } from './registrar';
import type { BindingStore } from './store';
import { UserDirectory } from './users';

export { Registrar, proxyFor, flowTransport } from './registrar';
export type { IncomingRegister, RegisterReply, RegistrarOptions } from './registrar';
export type { Binding, BindingFlow, LookupTarget, NatVerdict } from './types';
export type { BindingStore } from './store';
export { RegistrationRelay } from './relay';
export { FileBindingStore } from './file-store';
export { RedisBindingStore } from './redis-store';

/** `redis://…` → Redis; anything else is a journal file path relative to the config file. */
export function openBindingStore(store: string, configDir: string): Promise<BindingStore> {
  return /^rediss?:\/\//.test(store)
    ? RedisBindingStore.open(store)
    : FileBindingStore.open(path.resolve(configDir, store));
}

/** Builds the registrar from `registrar:` in pinhole.yaml; the caller installs it on srf. */
export async function createRegistrar(
  config: RegistrarConfig,
  pbx: PbxConfig,
  configDir: string,
  logger: Logger,
): Promise<Registrar> {
  let relay = null;
  if (config.mode === 'relay') {
    if (!pbx.uri) throw new Error('registrar.mode relay needs pbx.uri (the PBX registrar)');
    relay = {
      pbxUri: pbx.uri,
      domain: config.domain ?? pbx.uri.replace(/^sips?:(?:[^@]*@)?([^:;>]+).*$/, '$1'),
      upstreamExpires: config.relay.upstreamExpires,
      sweepIntervalMs: config.relay.sweepIntervalSeconds * 1000,
    };
    if (config.users) logger.warn('registrar.users is ignored in relay mode: the PBX authenticates');
  }
  let authenticator: DigestAuthenticator | null = null;
  if (config.users && !relay) {
    const realm = config.domain ?? 'pinhole';
    const users = UserDirectory.fromFile(path.resolve(configDir, config.users), realm);
    authenticator = new DigestAuthenticator({
      realm,
      users,
      algorithms: config.auth.algorithms,
      nonceLifetimeMs: config.auth.nonceLifetimeSeconds * 1000,
      secret: config.auth.secret ? Buffer.from(config.auth.secret) : randomBytes(32),
    });
    logger.info('registrar users loaded', { users: users.size, realm });
  } else if (!relay) {
    logger.warn('registrar.users is not set: REGISTER is accepted without authentication');
  }
  const store = await openBindingStore(config.store, configDir);
  return new Registrar({
    domain: relay ? relay.domain : config.domain,
    authenticator,
    policy: {
      defaultExpires: config.expires.default,
      minExpires: config.expires.min,
      maxExpires: config.expires.max,
      natUdpExpires: config.expires.natUdp,
    },
    maxContacts: config.maxContacts,
    localNetworks: config.localNetworks,
    store,
    keepalive: {
      intervalMs: config.keepalive.intervalSeconds * 1000,
      maxFailures: config.keepalive.maxFailures,
    },
    relay,
    logger,
  });
}
