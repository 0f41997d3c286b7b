import winston from 'winston';

export type Logger = winston.Logger;

/** JSON lines on stdout: one object per event, ready for journald or a log shipper. */
export function createLogger(level: string, service = 'pinhole'): Logger {
  const logger = winston.createLogger({
    level,
    defaultMeta: { service },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
  skipDisabledLevels(logger);
  return logger;
}

/**
 * winston decides a level is off only after the entry went through its object stream (and, for
 * a child logger, its metadata merge); debug lines on the per-message paths paid that for
 * nothing. The level methods, shared by the logger and its children through the prototype, now
 * return first. The level is read on each call, so a level changed at run time still applies.
 */
function skipDisabledLevels(logger: Logger): void {
  const methods = Object.getPrototypeOf(logger) as Record<string, unknown>;
  for (const level of Object.keys(logger.levels)) {
    const write = methods[level];
    if (typeof write !== 'function') continue;
    methods[level] = function (this: Logger, ...args: unknown[]) {
      if (!this.isLevelEnabled(level)) return this;
      return (write as (...a: unknown[]) => Logger).apply(this, args);
    };
  }
}
