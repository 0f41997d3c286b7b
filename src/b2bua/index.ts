export { B2bua, pbxNetworks } from './b2bua';
export type { B2buaOptions, CallCounters, RefusedCall } from './b2bua';
export type { Call, CallMediaStats, CallSnapshot } from './call';
export type { CallRecord, LegRecord } from './record';
export { callsSchema, type CallsConfig } from './config';
