import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ShipitError } from '../domain/errors';
import {
  checkBearer,
  ensureToken,
  readTokenFile,
  rotateTokenFile,
  tokenMatches,
  writeTokenFile,
} from './auth';

describe('checkBearer', () => {
  const token = 'Zm9vYmFyLXRva2VuLTEyMw';

  it('accepts the exact token', () => {
    expect(checkBearer(`Bearer ${token}`, token)).toBe(true);
    expect(checkBearer(`Bearer ${token}  `, token)).toBe(true); // trailing whitespace trimmed
  });

  it('rejects a missing header, another scheme, or a wrong token', () => {
    expect(checkBearer(undefined, token)).toBe(false);
    expect(checkBearer('', token)).toBe(false);
    expect(checkBearer(token, token)).toBe(false);
    expect(checkBearer(`Basic ${token}`, token)).toBe(false);
    expect(checkBearer('Bearer', token)).toBe(false);
    expect(checkBearer('Bearer ', token)).toBe(false);
    expect(checkBearer(`Bearer ${token}x`, token)).toBe(false);
    expect(checkBearer(`Bearer ${token.slice(0, -1)}`, token)).toBe(false);
    expect(checkBearer(`Bearer ${token.toUpperCase()}`, token)).toBe(false);
    expect(checkBearer('Bearer a', 'b')).toBe(false);
  });

  it('never accepts an empty token, on either side', () => {
    expect(tokenMatches('', '')).toBe(false);
    expect(tokenMatches('', token)).toBe(false);
    expect(tokenMatches(token, '')).toBe(false);
    expect(checkBearer('Bearer ', '')).toBe(false);
    expect(checkBearer('Bearer   ', '')).toBe(false);
    expect(checkBearer('Bearer', '')).toBe(false);
    expect(checkBearer(undefined, '')).toBe(false);
    expect(tokenMatches(token, token)).toBe(true);
  });
});

describe('ensureToken', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-auth-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates a 0600 token file (and its directory) and re-reads the same token', () => {
    const file = path.join(dir, 'nested', 'state', 'token');
    const t = ensureToken(file);
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${t}\n`);
    expect(ensureToken(file)).toBe(t);
    expect(checkBearer(`Bearer ${t}`, ensureToken(file))).toBe(true);
  });

  it('gives different tokens for different files', () => {
    expect(ensureToken(path.join(dir, 'a'))).not.toBe(ensureToken(path.join(dir, 'b')));
  });

  it('keeps a token written by hand (trimmed)', () => {
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, '  my-own-token \n', { mode: 0o600 });
    expect(ensureToken(file)).toBe('my-own-token');
    fs.chmodSync(file, 0o400); // read-only for the owner is fine too
    expect(ensureToken(file)).toBe('my-own-token');
  });

  it.each(['0644', '0640', '0604', '0660', '0601', '0610', '0666'])(
    'refuses a token file with mode %s: exit 2, naming the file, its mode and the fix',
    (octal) => {
      const mode = parseInt(octal, 8);
      const file = path.join(dir, 'token');
      fs.writeFileSync(file, 'secret-token\n');
      fs.chmodSync(file, mode);
      const err = errorOf(() => ensureToken(file));
      expect(err.code).toBe('config');
      expect(err.exitCode).toBe(2);
      expect(err.message).toContain(`${file} has mode ${octal}`);
      expect(err.message).toContain(`chmod 600 ${file}`);
      expect(err.hint).toContain(`chmod 600 ${file}`);
      expect(() => readTokenFile(file)).toThrow(ShipitError);
      expect(fs.readFileSync(file, 'utf8')).toBe('secret-token\n'); // left as it was
      fs.chmodSync(file, 0o600);
      expect(ensureToken(file)).toBe('secret-token');
    },
  );

  it('readTokenFile: null for a missing or empty file', () => {
    expect(readTokenFile(path.join(dir, 'none'))).toBeNull();
    fs.writeFileSync(path.join(dir, 'empty'), '  \n', { mode: 0o644 });
    expect(readTokenFile(path.join(dir, 'empty'))).toBeNull();
  });

  it('replaces an empty file with a fresh token', () => {
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, '\n', { mode: 0o644 });
    const t = ensureToken(file);
    expect(t.length).toBeGreaterThan(20);
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(t);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('rethrows read errors other than a missing file', () => {
    expect(() => ensureToken(dir)).toThrow(/EISDIR/);
  });
});

describe('rotateTokenFile / writeTokenFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-rotate-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('replaces the token with a new random one, mode 0600, leaving no temporary file', () => {
    const file = path.join(dir, 'token');
    const old = ensureToken(file);
    const inode = fs.statSync(file).ino;
    const fresh = rotateTokenFile(file);
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh).not.toBe(old);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${fresh}\n`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(file).ino).not.toBe(inode); // a new file renamed over the old one
    expect(fs.readdirSync(dir)).toEqual(['token']);
    expect(ensureToken(file)).toBe(fresh);
  });

  it('makes a readable-by-others file private again', () => {
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, 'leaked\n', { mode: 0o644 });
    writeTokenFile(file, 'new-one');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(readTokenFile(file)).toBe('new-one');
  });

  it('keeps the 0600 mode whatever the umask', () => {
    const saved = process.umask(0);
    try {
      writeTokenFile(path.join(dir, 'token'), 't');
    } finally {
      process.umask(saved);
    }
    expect(fs.statSync(path.join(dir, 'token')).mode & 0o777).toBe(0o600);
  });

  it('on failure leaves the old file and no temporary file', () => {
    const file = path.join(dir, 'token');
    fs.mkdirSync(file); // a directory where the file should be: the rename fails
    fs.writeFileSync(path.join(file, 'x'), '');
    expect(() => writeTokenFile(file, 'abc')).toThrow();
    expect(fs.readdirSync(dir)).toEqual(['token']);
    expect(() => writeTokenFile(path.join(dir, 'missing-dir', 'token'), 'abc')).toThrow(/ENOENT/);
  });
});

function errorOf(fn: () => unknown): ShipitError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ShipitError);
    return e as ShipitError;
  }
  throw new Error('did not throw');
}
