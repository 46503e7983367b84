import * as config from './index';

describe('src/config public API', () => {
  it('exports the loader, schema, helpers and starter template', () => {
    for (const name of [
      'loadConfig',
      'parseConfig',
      'pickService',
      'resolveConfigPath',
      'serviceSpecFromRaw',
      'configSchema',
      'configJsonSchema',
      'parseDuration',
      'parseSize',
      'formatDuration',
      'parseHostPort',
      'parseApiListen',
      'formatKeyPath',
    ] as const) {
      expect(typeof config[name]).toMatch(/function|object/);
    }
    expect(config.CONFIG_FILE).toBe('shipit.yml');
    expect(config.STRATEGIES).toEqual(['rolling', 'blue-green', 'canary', 'rainbow']);
    expect(config.STARTER_CONFIG).toContain('demo-web:v1');
  });
});
