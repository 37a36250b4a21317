import { describe, expect, it } from 'vitest';
import { superviseThread } from '../../src/shared/supervised-thread.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const entry = new URL('../fixtures/supervised-thread.mjs', import.meta.url);
const start = (workerData: unknown = {}, onExit?: () => void) =>
  superviseThread<{ type: 'ready'; threadId: number }>({
    name: 'test thread',
    entry,
    workerData,
    logger: silentLogger(),
    onExit,
  });

describe('superviseThread', () => {
  it('starts the thread again when it exits unexpectedly', async () => {
    const supervised = await start();
    const first = supervised.current.ready.threadId;
    supervised.post('die');
    await waitFor(() => supervised.current.ready.threadId !== first, 'a new thread', 5000);
    await supervised.stop('stop', 1000);
  });

  it('says when each incarnation exits, before the next one starts', async () => {
    const events: string[] = [];
    const supervised = await start({}, () => events.push(`exit ${supervised.current.ready.threadId}`));
    const first = supervised.current.ready.threadId;
    supervised.post('die');
    await waitFor(() => supervised.current.ready.threadId !== first, 'a new thread', 5000);
    expect(events).toEqual([`exit ${first}`]);
    await supervised.stop('stop', 1000);
    expect(events).toEqual([`exit ${first}`, `exit ${supervised.current.ready.threadId}`]);
  });

  it('stops at once when the thread already died, and does not start it again', async () => {
    const supervised = await start();
    const first = supervised.current.ready.threadId;
    supervised.post('die');
    await sleep(200);
    const began = Date.now();
    await supervised.stop('stop', 10_000);
    expect(Date.now() - began).toBeLessThan(1000);
    await sleep(1200);
    expect(supervised.current.ready.threadId).toBe(first);
  });

  it('fails to start when the thread exits before it is ready', async () => {
    await expect(start({ exitBeforeReady: true })).rejects.toThrow(
      /test thread exited during start-up \(code 7\)/,
    );
  });
});
