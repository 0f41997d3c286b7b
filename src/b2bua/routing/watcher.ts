import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../logging';
import { formatProblem, RoutingError } from './errors';
import { readRoutingText } from './read-file';
import { RoutingRules } from './rules';

export interface RoutingWatcherOptions {
  file: string;
  logger: Logger;
  /** Quiet time after the last change event before reloading (default 100 ms). */
  debounceMs?: number;
  onReload?: (rules: RoutingRules) => void;
  onRefused?: (err: RoutingError) => void;
}

/**
 * Keeps the routing rules in step with the file: a good new version replaces the rules for new
 * calls, a bad one is logged and the previous rules stay.
 */
export class RoutingWatcher {
  private rules: RoutingRules;
  /** The text last acted on (applied or refused), null when the file could not be read. */
  private lastText: string | null;
  private watcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly debounceMs: number;

  constructor(private readonly options: RoutingWatcherOptions) {
    this.debounceMs = options.debounceMs ?? 100;
    this.lastText = readRoutingText(options.file);
    this.rules = RoutingRules.parse(this.lastText, options.file);
  }

  current(): RoutingRules {
    return this.rules;
  }

  /**
   * Watches the directory rather than the file: editors save by writing a new file and renaming
   * it over the old one, which would leave a watch on the old file's inode silent.
   */
  start(): void {
    if (this.watcher) return;
    const target = path.resolve(this.options.file);
    const base = path.basename(target);
    try {
      this.watcher = fs.watch(path.dirname(target), { persistent: false }, (_event, name) => {
        if (name === null || name === base) this.schedule();
      });
    } catch (err) {
      // Out of inotify watches, say: calls still route, and reloadNow (SIGHUP) still works.
      this.watchFailed(err as Error);
      return;
    }
    this.watcher.on('error', (err) => this.watchFailed(err));
    // A change between the first load and now would otherwise go unnoticed until the next one.
    this.schedule();
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Reloads now, even when the file looks unchanged; true when new rules were applied. */
  reloadNow(): boolean {
    return this.reload(true);
  }

  private watchFailed(err: Error): void {
    this.options.logger.error('cannot watch the routing file; changes apply only on an explicit reload', {
      file: this.options.file,
      error: err.message,
    });
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reload(false);
    }, this.debounceMs);
    this.timer.unref();
  }

  /** One save can raise several events; unless forced, a version already acted on is skipped. */
  private reload(force: boolean): boolean {
    const { file, logger } = this.options;
    let text: string | null = null;
    let next: RoutingRules;
    try {
      text = readRoutingText(file);
      if (!force && text === this.lastText) return false;
      next = RoutingRules.parse(text, file);
    } catch (err) {
      if (!(err instanceof RoutingError)) throw err;
      const alreadyReported = !force && text === null && this.lastText === null;
      this.lastText = text;
      if (!alreadyReported) this.refused(err);
      return false;
    }
    this.lastText = text;
    this.rules = next;
    logger.info('routing rules loaded', { file, rules: next.ruleCount });
    this.notify(() => this.options.onReload?.(next));
    return true;
  }

  private refused(err: RoutingError): void {
    this.options.logger.error('routing file refused; the previous rules stay in force', {
      file: this.options.file,
      problems: err.problems.map(formatProblem),
    });
    this.notify(() => this.options.onRefused?.(err));
  }

  /** A failing listener must not take the watcher (or the process, from a timer) down with it. */
  private notify(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.options.logger.error('routing reload listener failed', {
        file: this.options.file,
        error: (err as Error).message,
      });
    }
  }
}
