import * as fs from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ha1, type DigestAlgorithm } from './digest';

const userSchema = z.union([
  z.object({ password: z.string().min(1) }).strict(),
  z
    .object({
      ha1: z.string().regex(/^[0-9a-fA-F]{32}$/, 'ha1 is the 32 hex digit MD5 of user:realm:password'),
      ha1_sha256: z
        .string()
        .regex(/^[0-9a-fA-F]{64}$/, 'ha1_sha256 is the 64 hex digit SHA-256 of user:realm:password')
        .optional(),
    })
    .strict(),
]);

const usersSchema = z.record(z.string().min(1), userSchema);

/** Digest secrets of one user: HA1 per algorithm it can be checked with. */
export type UserSecrets = Partial<Record<DigestAlgorithm, string>>;

/** users.yaml: `"1001": {password: "..."}` or `{ha1: "...", ha1_sha256: "..."}` (HA1 is realm-bound). */
export class UserDirectory {
  private constructor(private readonly users: Map<string, UserSecrets>) {}

  static fromYaml(text: string, realm: string, file = 'users.yaml'): UserDirectory {
    const result = usersSchema.safeParse(readUsersYaml(text, file) ?? {});
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new Error(`${file}: ${issue.path.join('.')}: ${issue.message}`);
    }
    const users = new Map<string, UserSecrets>();
    for (const [name, entry] of Object.entries(result.data)) {
      users.set(
        name,
        'password' in entry
          ? {
              MD5: ha1('MD5', name, realm, entry.password),
              'SHA-256': ha1('SHA-256', name, realm, entry.password),
            }
          : { MD5: entry.ha1.toLowerCase(), 'SHA-256': entry.ha1_sha256?.toLowerCase() },
      );
    }
    return new UserDirectory(users);
  }

  static fromFile(file: string, realm: string): UserDirectory {
    return UserDirectory.fromYaml(fs.readFileSync(file, 'utf8'), realm, file);
  }

  secrets(user: string): UserSecrets | undefined {
    return this.users.get(user);
  }

  get size(): number {
    return this.users.size;
  }
}

/**
 * The YAML document as plain data. The yaml library's own duplicate-key check compares every key
 * with every other (20k users: 3.5 s; 100k: minutes, blocking SIP during a reload); one pass
 * with a set finds the same mistake, with its line.
 */
function readUsersYaml(text: string, file: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, lineCounter });
  const error = doc.errors[0];
  if (error) throw new Error(`${file}: ${error.message}`);
  if (isMap(doc.contents)) {
    const seen = new Set<string>();
    for (const { key } of doc.contents.items) {
      const name = String(isScalar(key) ? key.value : key);
      if (seen.has(name)) {
        const line = isScalar(key) && key.range ? `line ${lineCounter.linePos(key.range[0]).line}: ` : '';
        throw new Error(`${file}: ${line}user ${name} is listed twice`);
      }
      seen.add(name);
    }
  }
  return doc.toJS();
}
