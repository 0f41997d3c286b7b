import * as fs from 'node:fs';
import { RoutingError } from './errors';
import { LIMITS } from './schema';

/**
 * The file's text, read no further than one byte past the size limit: a runaway file is then
 * refused by the parser (with the line where it crosses the limit) without being read whole.
 */
export function readRoutingText(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw unreadable(file, err);
  }
  try {
    const buffer = Buffer.alloc(LIMITS.fileBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    return buffer.toString('utf8', 0, length);
  } catch (err) {
    throw unreadable(file, err);
  } finally {
    fs.closeSync(fd);
  }
}

function unreadable(file: string, err: unknown): RoutingError {
  return new RoutingError([
    { file, line: null, message: `cannot read the routing file: ${(err as Error).message}` },
  ]);
}
