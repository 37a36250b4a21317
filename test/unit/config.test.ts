import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';

describe('loadConfig', () => {
  it('uses the embedded store under ./data by default', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config.port).toBe(8787);
    expect(config.host).toBe('127.0.0.1');
    expect(config.database).toEqual({ kind: 'sqlite', file: '/srv/app/data/tidings.db' });
    expect(config.dataDir).toBe('/srv/app/data');
    expect(config.apiKey).toBeNull();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('follows the SQLite file for the data dir unless told otherwise', () => {
    expect(loadConfig({ TIDINGS_DATABASE_URL: 'sqlite:/var/t/x.db' }, '/').dataDir).toBe('/var/t');
    expect(
      loadConfig({ TIDINGS_DATABASE_URL: 'sqlite:/var/t/x.db', TIDINGS_DATA_DIR: 'd' }, '/w').dataDir,
    ).toBe('/w/d');
    expect(loadConfig({ TIDINGS_DATABASE_URL: 'sqlite::memory:' }, '/w').database).toEqual({
      kind: 'sqlite',
      file: ':memory:',
    });
    expect(loadConfig({ TIDINGS_DATABASE_URL: 'postgres://u@h/db' }).database).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h/db',
    });
  });

  it.each([
    [{ TIDINGS_PORT: 'eighty' }, /TIDINGS_PORT="eighty" is not valid: use a whole number from 0 to 65535/],
    [{ TIDINGS_PORT: '70000' }, /TIDINGS_PORT/],
    [{ TIDINGS_DATABASE_URL: 'mysql://x' }, /use sqlite:<path>, sqlite::memory: or postgres:/],
    [{ TIDINGS_API_KEY: 'short' }, /at least 16 printable ASCII characters/],
    [{ TIDINGS_API_KEY: ' starts with a space' }, /not starting or ending with a space/],
    [{ TIDINGS_API_KEY: 'ends with a space ' }, /not starting or ending with a space/],
    [{ TIDINGS_API_KEY: 'non-ascii key café 01' }, /printable ASCII/],
    [{ TIDINGS_LOG_LEVEL: 'loud' }, /use one of fatal, error/],
  ])('rejects %o with a message that says how to fix it', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('accepts a short TIDINGS_SECRET but warns about it', () => {
    expect(loadConfig({ TIDINGS_SECRET: 'tooshort' }).warnings).toEqual([
      expect.stringMatching(/openssl rand -hex 32/),
    ]);
    expect(loadConfig({ TIDINGS_SECRET: 'x'.repeat(32) }).warnings).toEqual([]);
  });

  it('takes TIDINGS_PUBLIC_URL without its trailing slash, defaulting to the listening address', () => {
    expect(loadConfig({}).publicUrl).toBe('http://127.0.0.1:8787');
    expect(loadConfig({ TIDINGS_HOST: '::1', TIDINGS_PORT: '9000' }).publicUrl).toBe('http://[::1]:9000');
    expect(loadConfig({ TIDINGS_PUBLIC_URL: 'https://notify.example.com/t/' }).publicUrl).toBe(
      'https://notify.example.com/t',
    );
    for (const bad of [
      'notify.example.com',
      'ftp://x.example',
      'https://x.example/?a=1',
      'https://u:p@x.example',
    ]) {
      expect(() => loadConfig({ TIDINGS_PUBLIC_URL: bad }), bad).toThrow(/TIDINGS_PUBLIC_URL/);
    }
  });

  it('takes TIDINGS_HOST as an address or a host name, refusing anything else by name', () => {
    for (const host of [
      '127.0.0.1',
      '0.0.0.0',
      '::',
      '::1',
      'localhost',
      'notify.internal',
      'api-1.example.com',
      'my_service',
      'notify.example.com.',
    ])
      expect(loadConfig({ TIDINGS_HOST: host }).host).toBe(host);
    for (const bad of [
      'not a host!',
      'http://example.com',
      '-leading.example',
      'a..b',
      '[::1]',
      'x'.repeat(254),
    ])
      expect(() => loadConfig({ TIDINGS_HOST: bad }), bad).toThrow(/TIDINGS_HOST/);
  });

  it('takes TIDINGS_MAX_STREAMS as a whole number of streams, unset by default', () => {
    expect(loadConfig({}).maxStreams).toBeNull();
    expect(loadConfig({ TIDINGS_MAX_STREAMS: '5000' }).maxStreams).toBe(5000);
    for (const bad of ['0', '-1', 'lots', '1.5'])
      expect(() => loadConfig({ TIDINGS_MAX_STREAMS: bad }), bad).toThrow(/TIDINGS_MAX_STREAMS/);
  });

  it('reads TIDINGS_RETENTION as a duration (default 90 days) and refuses what is not one', () => {
    expect(loadConfig({}).retentionMs).toBe(90 * 86_400_000);
    expect(loadConfig({ TIDINGS_RETENTION: '30d' }).retentionMs).toBe(30 * 86_400_000);
    expect(loadConfig({ TIDINGS_RETENTION: '5s' }).retentionMs).toBe(5000);
    for (const bad of ['0s', '90', 'forever', '-1d', '500ms', '4000d']) {
      expect(() => loadConfig({ TIDINGS_RETENTION: bad }), bad).toThrow(/TIDINGS_RETENTION/);
    }
  });

  it('reads TIDINGS_CORS_ORIGINS as origins browsers send, and refuses values that could never match', () => {
    expect(loadConfig({}).corsOrigins).toBe('*');
    expect(loadConfig({ TIDINGS_CORS_ORIGINS: ' * ' }).corsOrigins).toBe('*');
    expect(
      loadConfig({
        TIDINGS_CORS_ORIGINS: 'https://App.Example.com/, http://localhost:3000,https://app.example.com',
      }).corsOrigins,
    ).toEqual(['https://app.example.com', 'http://localhost:3000']);
    for (const bad of [
      'app.example.com',
      'https://app.example.com/inbox',
      'https://app.example.com?x=1',
      'https://a.example,*',
      'ftp://files.example',
      'null',
    ]) {
      expect(() => loadConfig({ TIDINGS_CORS_ORIGINS: bad }), bad).toThrow(
        /TIDINGS_CORS_ORIGINS.*scheme:\/\/host/,
      );
    }
  });
});
