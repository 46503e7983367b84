import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { configError } from '../domain/errors';

/** Reads the token file, creating it (mode 0600) with a fresh random token when missing or empty. */
export function ensureToken(file: string): string {
  const existing = readTokenFile(file);
  if (existing) return existing;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return rotateTokenFile(file);
}

/**
 * The token in `file` (trimmed), or null when the file is missing or empty. A token file that
 * group or others may read is refused: anyone who can read it controls every deploy.
 */
export function readTokenFile(file: string): string | null {
  let token: string;
  try {
    token = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if (!token) return null;
  const mode = fs.statSync(file).mode & 0o777;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    const octal = mode.toString(8).padStart(4, '0');
    throw configError(
      `the API token file ${file} has mode ${octal}: group or other users can read it, so shipit refuses to start; fix: chmod 600 ${file}`,
      `run: chmod 600 ${file}  (if others may have read it, also delete it: shipit up writes a new token)`,
    );
  }
  return token;
}

/** Writes a fresh random token to `file` (atomically, mode 0600) and returns it. */
export function rotateTokenFile(file: string): string {
  const token = randomBytes(32).toString('base64url');
  writeTokenFile(file, token);
  return token;
}

/**
 * Replaces `file` with `token` in one rename: a reader sees the old token or the new one, never
 * a half-written file, and the file is never readable by others, not even for a moment.
 */
export function writeTokenFile(file: string, token: string): void {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  let fd: number | null = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.fchmodSync(fd, 0o600); // the umask can only remove bits; this makes it exactly 0600
    fs.writeSync(fd, `${token}\n`);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Constant-time check of an `Authorization: Bearer <token>` header (hashing first hides the length). */
export function checkBearer(header: string | undefined, token: string): boolean {
  if (!header || !header.startsWith('Bearer ')) return false;
  return tokenMatches(header.slice(7).trim(), token);
}

/**
 * Constant-time comparison of a presented token (bearer header or dashboard login) with the real
 * one. An empty token on either side never matches, so a daemon can never be open to everyone.
 */
export function tokenMatches(givenToken: string, token: string): boolean {
  if (!givenToken || !token) return false;
  const given = createHash('sha256').update(givenToken).digest();
  const want = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, want);
}
