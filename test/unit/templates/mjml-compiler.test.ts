import { afterEach, describe, expect, it } from 'vitest';
import { MjmlCompiler, type MjmlCompilerOptions } from '../../../src/templates/mjml-compiler.ts';

// The compiler's thread handling, with a stand-in thread (test/fixtures/mjml-thread.mjs) that
// compiles at once, "spin"s forever or "crash"es; test/security/mjml-compile-budget.test.ts runs
// the real one through the API.
const entry = new URL('../../fixtures/mjml-thread.mjs', import.meta.url);
let compiler: MjmlCompiler;
const make = (options: Partial<MjmlCompilerOptions> = {}) =>
  (compiler = new MjmlCompiler({ entry, timeLimitMs: 200, ...options }));

afterEach(() => compiler?.close());

describe('MjmlCompiler', () => {
  it('fails a compile past the time limit alone, and compiles the next on a fresh thread', async () => {
    make();
    const startedAt = Date.now();
    const [slow, next] = await Promise.all([compiler.compile('spin'), compiler.compile('b')]);
    expect(slow).toEqual({
      ok: false,
      cause: 'too_slow',
      message: expect.stringMatching(/^took longer than 0.2 s to compile: the template is too expensive/),
    });
    expect(next).toEqual({ ok: true, html: '<p>b</p>' });
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  });

  it('fails only the compile running when the thread dies', async () => {
    make();
    const [before, crashed, after] = await Promise.all([
      compiler.compile('a'),
      compiler.compile('crash'),
      compiler.compile('c'),
    ]);
    expect(before).toEqual({ ok: true, html: '<p>a</p>' });
    expect(crashed).toEqual({
      ok: false,
      message: 'could not be compiled (the compiler stopped: the compiler fell over)',
    });
    expect(after).toEqual({ ok: true, html: '<p>c</p>' });
  });

  it('answers busy to a compile that waits too long, or finds too many waiting', async () => {
    make({ timeLimitMs: 5_000, waitLimitMs: 300, maxWaiting: 2 });
    const slow = compiler.compile('spin');
    const waited = compiler.compile('w');
    const turnedAway = await compiler.compile('x');
    expect(turnedAway).toMatchObject({ ok: false, cause: 'busy' });
    let slowDone = false;
    void slow.finally(() => (slowDone = true));
    expect(await waited).toEqual({
      ok: false,
      cause: 'busy',
      message: 'MJML compilation is busy with other templates; retry shortly',
    });
    expect(slowDone).toBe(false);
  });

  it('rejects what waits when the thread cannot start, and tries again on the next compile', async () => {
    make({ workerData: { failToStart: true } });
    await expect(compiler.compile('a')).rejects.toThrow(
      'the MJML compiler thread could not start: mjml is not installed',
    );
    await expect(compiler.compile('b')).rejects.toThrow(/could not start/);
  });

  it('terminates a thread that never gets ready, fails what waits, and starts another for the next', async () => {
    make({ workerData: { hangAtStart: true }, startLimitMs: 300, waitLimitMs: 5_000 });
    await expect(compiler.compile('a')).rejects.toThrow(
      'the MJML compiler thread could not start: it did not start within 0.3 s',
    );
    await expect(compiler.compile('b')).rejects.toThrow(/did not start within/);
  });
});
