import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { STARTER_CONFIG } from './init-template';
import { loadConfig } from './load';

describe('STARTER_CONFIG', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-init-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function load(text: string) {
    fs.writeFileSync(path.join(tmp, 'shipit.yml'), text);
    return loadConfig({ cwd: tmp, env: {} });
  }

  it('loads without errors as the blue-green demo-web service', () => {
    const cfg = load(STARTER_CONFIG);
    expect(cfg.project).toBe('demo');
    expect(cfg.proxy.port).toBe(8080);
    const web = cfg.services.web;
    expect(web.image).toBe('demo-web:v1');
    expect(web.port).toBe(8080);
    expect(web.healthcheck.path).toBe('/healthz');
    expect(web.deploy.strategy).toBe('blue-green');
  });

  it('explains every key it sets in a comment on the same line', () => {
    const keyLines = STARTER_CONFIG.split('\n').filter((l) => /^\s*[a-zA-Z]+:/.test(l));
    const uncommented = keyLines.filter(
      (l) => !l.includes('#') && !/^\s*(proxy|api|services|web|deploy):\s*$/.test(l),
    );
    expect(uncommented).toEqual([]);
  });

  it('still loads with every commented-out example enabled', () => {
    const enabled = STARTER_CONFIG.replace(/^(\s*)# ([a-zA-Z]+: )/gm, '$1$2');
    expect(enabled).not.toEqual(STARTER_CONFIG);
    const cfg = load(enabled);
    expect(cfg.services.web.command).toEqual(['node', 'server.js']);
    expect(cfg.raw.services.web.autoscale?.max).toBe(10);
    expect(cfg.raw.logs.maxLines).toBe(1_000_000);
    expect(cfg.raw.proxy.tls?.acme?.hosts).toEqual(['app.example.com']);
  });
});
