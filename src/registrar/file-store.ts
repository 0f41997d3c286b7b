import * as fs from 'node:fs';
import * as path from 'node:path';
import { latestExpiry, type BindingStore } from './store';
import type { Binding } from './types';

interface JournalEntry {
  aor: string;
  bindings: Binding[];
}

export interface Replayed {
  bindings: Map<string, Binding[]>;
  /** Complete lines read. */
  lines: number;
  /** Lines that could not be used: a torn last write, or damage. */
  skipped: number;
}

/**
 * Rebuilds the AoR map from journal text: each line is the full binding set of one AoR, so the
 * last line for an AoR wins. A torn last line (kill -9 mid-write) was never acknowledged and is
 * skipped; so is any damaged line, rather than losing everything after it.
 */
export function replayJournal(text: string, now: number): Replayed {
  const bindings = new Map<string, Binding[]>();
  let lines = 0;
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let entry: JournalEntry;
    try {
      entry = JSON.parse(line) as JournalEntry;
    } catch {
      skipped++;
      continue;
    }
    if (typeof entry?.aor !== 'string' || !Array.isArray(entry.bindings)) {
      skipped++;
      continue;
    }
    lines++;
    const live = entry.bindings.filter((b) => b.expiresAt > now);
    if (live.length > 0) bindings.set(entry.aor, live);
    else bindings.delete(entry.aor);
  }
  return { bindings, lines, skipped };
}

interface PendingWrite {
  line: string;
  resolve(): void;
  reject(err: Error): void;
}

export interface FileStoreOptions {
  /**
   * Rewrite the journal as a snapshot once this many lines, and twice as many as there are AoRs,
   * were appended since the last one.
   */
  compactAfterLines?: number;
  now?: () => number;
}

/**
 * The embedded store: bindings in memory, every change appended to a JSON-lines journal and
 * fdatasync'd before `put` resolves. Writes that arrive while one is in flight are committed
 * together (one write, one sync), which keeps throughput up under registration storms.
 */
export class FileBindingStore implements BindingStore {
  readonly shared = false;
  private pending: PendingWrite[] = [];
  private writing: Promise<void> | null = null;
  private appendedSinceCompaction = 0;
  private closed = false;

  private constructor(
    private readonly file: string,
    private handle: fs.promises.FileHandle,
    private readonly bindings: Map<string, Binding[]>,
    private readonly compactAfterLines: number,
    private readonly now: () => number,
  ) {}

  static async open(file: string, options: FileStoreOptions = {}): Promise<FileBindingStore> {
    const now = options.now ?? Date.now;
    let text = '';
    try {
      text = await fs.promises.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const { bindings } = replayJournal(text, now());
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    // Start from a clean snapshot: it drops expired bindings and any torn last line.
    await writeSnapshot(file, bindings);
    const handle = await fs.promises.open(file, 'a');
    return new FileBindingStore(file, handle, bindings, options.compactAfterLines ?? 10000, now);
  }

  get(aor: string): Promise<Binding[]> {
    return Promise.resolve(this.bindings.get(aor) ?? []);
  }

  async put(aor: string, bindings: Binding[]): Promise<void> {
    if (this.closed) throw new Error('binding store is closed');
    await new Promise<void>((resolve, reject) => {
      this.pending.push({ line: `${JSON.stringify({ aor, bindings })}\n`, resolve, reject });
      this.flushSoon();
    });
    if (bindings.length > 0) this.bindings.set(aor, bindings);
    else this.bindings.delete(aor);
  }

  all(): Promise<Map<string, Binding[]>> {
    const now = this.now();
    const live = new Map<string, Binding[]>();
    for (const [aor, list] of this.bindings) if (latestExpiry(list) > now) live.set(aor, list);
    return Promise.resolve(live);
  }

  healthy(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.writing) await this.writing;
    await this.handle.close();
  }

  private flushSoon(): void {
    if (this.writing) return;
    this.writing = this.drain().finally(() => {
      this.writing = null;
      if (this.pending.length > 0) this.flushSoon();
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        await this.handle.write(batch.map((w) => w.line).join(''));
        await this.handle.datasync();
        this.appendedSinceCompaction += batch.length;
      } catch (err) {
        for (const w of batch) w.reject(err as Error);
        continue;
      }
      for (const w of batch) w.resolve();
      if (this.compactionDue()) await this.compact();
    }
  }

  /**
   * A fixed threshold rewrote all 100k AoRs every 10k REGISTERs of a storm (most of the
   * registrar's time, and a 50 MB string each time); relative to the live set, a snapshot costs a
   * constant amount per appended line however many phones are registered.
   */
  private compactionDue(): boolean {
    return this.appendedSinceCompaction >= Math.max(this.compactAfterLines, 2 * this.bindings.size);
  }

  /** Replaces the journal by a snapshot of the current bindings (only while no append runs). */
  private async compact(): Promise<void> {
    const now = this.now();
    for (const [aor, list] of this.bindings) {
      const live = list.filter((b) => b.expiresAt > now);
      if (live.length > 0) this.bindings.set(aor, live);
      else this.bindings.delete(aor);
    }
    await this.handle.close();
    await writeSnapshot(this.file, this.bindings);
    this.handle = await fs.promises.open(this.file, 'a');
    this.appendedSinceCompaction = 0;
  }
}

const SNAPSHOT_PIECE_CHARS = 1 << 20;

/** Writes a snapshot beside the journal, syncs it, and renames it over (atomic on POSIX). */
async function writeSnapshot(file: string, bindings: Map<string, Binding[]>): Promise<void> {
  const tmp = `${file}.tmp`;
  const handle = await fs.promises.open(tmp, 'w');
  try {
    // In pieces: the event loop keeps serving SIP between them, and no string holds every binding.
    let text = '';
    for (const [aor, list] of bindings) {
      text += `${JSON.stringify({ aor, bindings: list })}\n`;
      if (text.length < SNAPSHOT_PIECE_CHARS) continue;
      await handle.write(text);
      text = '';
    }
    if (text) await handle.write(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(tmp, file);
  const dir = await fs.promises.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
