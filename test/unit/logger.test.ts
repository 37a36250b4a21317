import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/telemetry/logger.ts';

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
