export * from './call-limits';
export * from './config';
export * from './guard';
