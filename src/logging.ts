import winston from 'winston';

export type Logger = winston.Logger;

/** JSON lines on stdout: one object per event, ready for journald or a log shipper. */
export function createLogger(level: string, service = 'pinhole'): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}
