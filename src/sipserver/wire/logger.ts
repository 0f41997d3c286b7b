/** The logging surface the SIP server needs; winston loggers satisfy it. */
export interface WireLogger {
  info(message: string, meta?: object): void;
  warn(message: string, meta?: object): void;
  debug(message: string, meta?: object): void;
}

export const silentLogger: WireLogger = {
  info: () => undefined,
  warn: () => undefined,
  debug: () => undefined,
};
