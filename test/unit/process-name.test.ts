import { hostname } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { PROCESS_NAME, processNameData } from '../../src/shared/process-name.ts';

const entry = new URL('../fixtures/process-name-thread.mjs', import.meta.url);

/** The PROCESS_NAME a thread started with `workerData` sees. */
async function nameInThread(workerData: unknown): Promise<string> {
  const thread = new Worker(entry, { workerData });
  try {
    return await new Promise<string>((resolve, reject) => {
      thread.once('message', resolve);
      thread.once('error', reject);
    });
  } finally {
    await thread.terminate();
  }
}

describe('PROCESS_NAME', () => {
  it('is more than host and pid, which containers of one image share (PID 1 on the same hostname)', () => {
    expect(PROCESS_NAME).toMatch(
      new RegExp(`^${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${process.pid}:[0-9a-f]{12}$`),
    );
  });

  it('is the same in a thread handed processNameData(), and another in one that was not', async () => {
    expect(await nameInThread(processNameData())).toBe(PROCESS_NAME);
    expect(await nameInThread({})).not.toBe(PROCESS_NAME);
  });
});
