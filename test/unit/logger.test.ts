import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger, resolveLogFormat } from '../../src/telemetry/logger.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger('debug', stream) };
}

describe('logger', () => {
  it('never writes keys, tokens or credentials', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        req: {
          method: 'GET',
          url: '/v1/inbox/stream?token=eyJ.secret.sig&x=1',
          headers: { authorization: 'Bearer tdk_abc' },
        },
      },
      'r',
    );
    logger.info(
      { integration: { credentials: { pass: 'hunter2' }, token: 'tok-123', apiKey: 'tdk_zzz' } },
      'i',
    );
    const text = lines.join('');
    for (const secret of ['eyJ.secret.sig', 'tdk_abc', 'hunter2', 'tok-123', 'tdk_zzz'])
      expect(text).not.toContain(secret);
    expect(text).toContain('token=[redacted]&x=1');
  });
});

describe('log format', () => {
  it('is pretty for a person at a terminal, JSON for pipes and CI, unless TIDINGS_LOG_FORMAT says', () => {
    expect(resolveLogFormat(null, true, {})).toBe('pretty');
    expect(resolveLogFormat(null, false, {})).toBe('json');
    expect(resolveLogFormat(null, undefined, {})).toBe('json');
    expect(resolveLogFormat(null, true, { CI: 'true' })).toBe('json');
    expect(resolveLogFormat(null, true, { CI: 'false' })).toBe('pretty');
    expect(resolveLogFormat('json', true, {})).toBe('json');
    expect(resolveLogFormat('pretty', false, { CI: '1' })).toBe('pretty');
  });

  it('TIDINGS_LOG_FORMAT takes json or pretty and names itself otherwise', () => {
    expect(loadConfig({ TIDINGS_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(loadConfig({}).logFormat).toBeNull();
    expect(() => loadConfig({ TIDINGS_LOG_FORMAT: 'yaml' })).toThrow(
      /TIDINGS_LOG_FORMAT="yaml".*json or pretty/,
    );
  });
});
