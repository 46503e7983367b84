import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Reads the token file, creating it (mode 0600) with a fresh random token when missing. */
export function ensureToken(file: string): string {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    if (t) return t;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const token = randomBytes(32).toString('base64url');
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return token;
}

/** Constant-time check of an `Authorization: Bearer <token>` header (hashing first hides the length). */
export function checkBearer(header: string | undefined, token: string): boolean {
  if (!header || !header.startsWith('Bearer ')) return false;
  return tokenMatches(header.slice(7).trim(), token);
}

/** Constant-time comparison of a presented token (bearer header or dashboard login) with the real one. */
export function tokenMatches(givenToken: string, token: string): boolean {
  const given = createHash('sha256').update(givenToken).digest();
  const want = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, want);
}
