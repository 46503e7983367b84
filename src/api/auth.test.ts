import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkBearer, ensureToken } from './auth';

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
    fs.writeFileSync(file, '  my-own-token \n');
    expect(ensureToken(file)).toBe('my-own-token');
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
