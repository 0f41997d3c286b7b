export * from './branch';
export * from './invite-client-transaction';
export * from './invite-server-transaction';
export * from './non-invite-client-transaction';
export * from './non-invite-server-transaction';
export * from './timers';
export * from './transaction';
export * from './transaction-layer';
