import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { InboxFeed } from '../../../src/inbox/feed.ts';

describe('InboxFeed audience', () => {
  it('counts the streams listening, once per listener, and never below zero', () => {
    const feed = new InboxFeed();
    expect(feed.hasAudience()).toBe(false);
    const listener = () => undefined;
    const stop = feed.subscribe('t', 's1', listener);
    // The same listener again for the same subscriber is one listener.
    const again = feed.subscribe('t', 's1', listener);
    const other = feed.subscribe('t', 's2', () => undefined);
    expect(feed.hasAudience()).toBe(true);
    stop();
    again();
    stop();
    expect(feed.hasAudience()).toBe(true);
    other();
    expect(feed.hasAudience()).toBe(false);
    expect(feed.audienceCounter[0]).toBe(0);
  });

  it("is seen by a worker thread's feed made over the same counter", async () => {
    const api = new InboxFeed();
    const stop = api.subscribe('t', 's', () => undefined);
    // What a worker thread does with workerData.inboxAudience (src/cli/worker-thread.ts).
    const probe = `
      const { parentPort, workerData } = require('node:worker_threads');
      parentPort.postMessage(Atomics.load(workerData.audience, 0) > 0);
      parentPort.once('message', () => parentPort.postMessage(Atomics.load(workerData.audience, 0) > 0));
    `;
    const worker = new Worker(probe, { eval: true, workerData: { audience: api.audienceCounter } });
    const answers: boolean[] = [];
    await new Promise<void>((resolve, reject) => {
      worker.on('error', reject);
      worker.on('message', (seen: boolean) => {
        answers.push(seen);
        if (answers.length === 1) {
          stop();
          worker.postMessage('again');
        } else resolve();
      });
    });
    await worker.terminate();
    expect(answers).toEqual([true, false]);
    // And a feed made over it (as the worker thread's is) reads the same.
    const threadFeed = new InboxFeed(api.audienceCounter);
    const reopened = api.subscribe('t', 's', () => undefined);
    expect(threadFeed.hasAudience()).toBe(true);
    reopened();
    expect(threadFeed.hasAudience()).toBe(false);
  });
});

describe('InboxFeed publish', () => {
  it('gives a change to every listener and tap though one of them throws, and reports the failure', () => {
    const failures: unknown[] = [];
    const feed = new InboxFeed(InboxFeed.createAudience(), (error) => failures.push(error));
    const seen: string[] = [];
    feed.tap(() => {
      throw new Error('relay down');
    });
    feed.tap((changes) => seen.push(`tap ${changes.length}`));
    feed.subscribe('t', 's', () => {
      throw new Error('socket gone');
    });
    feed.subscribe('t', 's', (change) => seen.push(`stream ${change.type}`));
    const change = { type: 'item.updated', tenantId: 't', subscriberId: 's', itemId: 'm1' } as const;
    expect(() => feed.publish([change, change])).not.toThrow();
    expect(seen).toEqual(['tap 2', 'stream item.updated', 'stream item.updated']);
    expect(failures.map((error) => (error as Error).message)).toEqual([
      'relay down',
      'socket gone',
      'socket gone',
    ]);
  });
});

describe('InboxFeed gap', () => {
  it('tells every listener of every tenant once, though one throws, and no tap', () => {
    const failures: unknown[] = [];
    const feed = new InboxFeed(InboxFeed.createAudience(), (error) => failures.push(error));
    const heard: string[] = [];
    feed.tap(() => heard.push('tap'));
    feed.subscribe('t1', 'a', (notice) => heard.push(`t1/a ${notice.type}`));
    feed.subscribe('t1', 'a', () => {
      throw new Error('socket gone');
    });
    feed.subscribe('t2', 'b', (notice) => heard.push(`t2/b ${notice.type}`));
    const stop = feed.subscribe('t2', 'c', (notice) => heard.push(`t2/c ${notice.type}`));
    stop();
    feed.gap();
    expect(heard).toEqual(['t1/a feed.gap', 't2/b feed.gap']);
    expect(failures).toHaveLength(1);
  });

  it('with a subscriber, tells only that subscriber’s listeners', () => {
    const feed = new InboxFeed();
    const heard: string[] = [];
    feed.subscribe('t1', 'a', (notice) => heard.push(`t1/a ${notice.type}`));
    feed.subscribe('t1', 'b', (notice) => heard.push(`t1/b ${notice.type}`));
    feed.subscribe('t2', 'a', (notice) => heard.push(`t2/a ${notice.type}`));
    feed.gap({ tenantId: 't1', subscriberId: 'a' });
    feed.gap({ tenantId: 't3', subscriberId: 'nobody' });
    expect(heard).toEqual(['t1/a feed.gap']);
  });
});
