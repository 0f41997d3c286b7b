export { B2bua } from './b2bua';
export type { B2buaOptions, CallCounters } from './b2bua';
export type { CallRecord, LegRecord } from './record';
export { callsSchema, type CallsConfig } from './config';
