import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** test/fixtures, found from either the sources or their compiled copies in dist/. */
export const FIXTURES = findFixtures(__dirname);

function findFixtures(from: string): string {
  for (let dir = from; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'fixtures', 'rfc4475');
    if (fs.existsSync(candidate)) return path.dirname(candidate);
  }
  throw new Error(`test/fixtures not found above ${from}`);
}

export function readFixture(relative: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES, relative));
}

export function readManifest<T>(relative: string): T {
  return JSON.parse(readFixture(relative).toString('utf8')) as T;
}

/** The message files of a corpus folder: every regular file but the MANIFEST ones. */
export function messageFiles(folder: string): string[] {
  return fs
    .readdirSync(path.join(FIXTURES, folder), { withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.startsWith('MANIFEST') && !entry.name.startsWith('_'))
    .map((entry) => entry.name)
    .sort();
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface Rfc4475Entry {
  file: string;
  rfc_section: string;
  title: string;
  syntax_verdict: string;
  expected_handling: string;
  bytes: number;
  sha256: string;
  first_line: string;
}

export interface Rfc5118Entry {
  file: string;
  archive_file: string;
  rfc_section: string;
  title: string;
  verdict: string;
  expected_handling: string;
  archive_bytes: number;
  archive_sha256: string;
  archive_content_length: number;
  archive_lf_body_bytes: number;
  wire_bytes: number;
  wire_sha256: string;
  wire_derivation_notes: string[];
}

export interface Rfc3665Entry {
  file: string;
  rfc3665_section: string;
  flow: string;
  message: string;
  start_line: string;
  content_length: number | null;
  body_bytes_crlf: number;
  cl_matches: boolean;
  notes: string[];
  bytes: number;
  sha256: string;
}

export const rfc4475 = (): Rfc4475Entry[] => readManifest('rfc4475/MANIFEST.json');
export const rfc5118 = (): Rfc5118Entry[] => readManifest('rfc5118/MANIFEST.json');
export const rfc3665 = (): Rfc3665Entry[] => readManifest('rfc3665/MANIFEST.json');

/** Every message the RFCs present as well-formed SIP, as seeds for mutation tests. */
export function wellFormedMessages(): Buffer[] {
  const seeds: Buffer[] = [];
  for (const e of rfc4475())
    if (/^valid/.test(e.syntax_verdict)) seeds.push(readFixture(`rfc4475/${e.file}`));
  for (const e of rfc5118())
    if (/^valid/.test(e.verdict)) seeds.push(readFixture(`rfc5118/wire-crlf/${e.file}`));
  for (const e of rfc3665()) seeds.push(readFixture(`rfc3665/${e.file}`));
  return seeds;
}
