import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventBody } from '../../../src/ingest/schema.ts';
import { IngestService } from '../../../src/ingest/service.ts';
import { JobSignal } from '../../../src/queue/signal.ts';
import { StoreUnavailableError } from '../../../src/store/errors.ts';
import type { Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';

const T = 'ten_a';

/** An event the store itself cannot take: a BigInt does not serialise, so its commit throws. */
const poisoned = { workflow: 'welcome', to: ['u_bad'], data: { n: 1n } } as unknown as EventBody;
const good = (i: number): EventBody => ({ workflow: 'welcome', to: [`u_${i}`], data: { i } });

describe('IngestService: events committed together', () => {
  let store: Store;
  beforeEach(async () => {
    store = openSqliteStore({ file: ':memory:' });
    await store.ensureTenant(T, 'A');
    await store.putWorkflow(T, 'welcome', { channels: [] }, 1);
  });
  afterEach(async () => {
    await store.close();
  });

  it('commits the others again without an event whose shared commit failed', async () => {
    const ingest = new IngestService(store, new JobSignal());
    // Accepted in one tick: one group commit, which the poisoned event makes throw.
    const answers = await Promise.allSettled([
      ...[0, 1, 2].map((i) => ingest.accept(T, good(i), null)),
      ingest.accept(T, poisoned, null),
      ...[3, 4, 5, 6].map((i) => ingest.accept(T, good(i), null)),
    ]);
    expect(answers.map((a) => a.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    for (const answer of answers) {
      if (answer.status !== 'fulfilled' || !answer.value.ok) continue;
      expect(await store.getEvent(T, answer.value.eventId)).not.toBeNull();
    }
  });

  it('wakes the workers for the lanes of the jobs it queued, once each, and not for repeats', async () => {
    await store.putWorkflow(T, 'mfa', { priority: 'critical', channels: [] }, 1);
    const signal = new JobSignal();
    const woken: (string | null)[] = [];
    signal.subscribe((lane) => woken.push(lane));
    const ingest = new IngestService(store, signal);
    await Promise.all([
      ingest.accept(T, good(1), null),
      ingest.accept(T, good(2), null),
      ingest.accept(T, { workflow: 'mfa', to: ['u_1'] }, 'k1'),
    ]);
    expect(woken.sort()).toEqual(['critical', 'normal']);
    woken.length = 0;
    // A repeated key queues nothing: nobody is woken for it.
    await ingest.accept(T, { workflow: 'mfa', to: ['u_1'] }, 'k1');
    await ingest.accept(T, { workflow: 'welcome', to: ['u_3'], priority: 'bulk' }, null);
    expect(woken).toEqual(['bulk']);
  });

  it('says urgent events are on their way while it accepts them: by their priority, or their workflow lane as learned', async () => {
    await store.putWorkflow(T, 'mfa', { priority: 'critical', channels: [] }, 1);
    const signal = new JobSignal();
    const ingest = new IngestService(store, signal);
    // A workflow not accepted before: its lane is not known yet.
    const first = ingest.accept(T, { workflow: 'mfa', to: ['u_1'] }, null);
    expect(signal.urgentIncoming()).toBe(false);
    await first;
    const second = ingest.accept(T, { workflow: 'mfa', to: ['u_2'] }, null);
    expect(signal.urgentIncoming()).toBe(true);
    await second;
    expect(signal.urgentIncoming()).toBe(false);
    // An event's own priority says it at once; a normal one never does.
    const high = ingest.accept(T, { ...good(1), priority: 'high' }, null);
    expect(signal.urgentIncoming()).toBe(true);
    await high;
    const normal = ingest.accept(T, good(2), null);
    expect(signal.urgentIncoming()).toBe(false);
    await normal;
    // One that fails counts as arrived too.
    const failing = ingest.accept(T, { ...(poisoned as object), priority: 'critical' } as EventBody, null);
    expect(signal.urgentIncoming()).toBe(true);
    await expect(failing).rejects.toThrow();
    expect(signal.urgentIncoming()).toBe(false);
  });

  it('fails the whole batch at once, without retrying piece by piece, when the store is unavailable', async () => {
    let calls = 0;
    const busy = new StoreUnavailableError(
      Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }),
    );
    const unavailable: Store = Object.create(store, {
      acceptEvents: {
        value: async () => {
          calls++;
          throw busy;
        },
      },
    });
    const ingest = new IngestService(unavailable, new JobSignal());
    const answers = await Promise.allSettled([0, 1, 2, 3].map((i) => ingest.accept(T, good(i), null)));
    expect(answers.every((a) => a.status === 'rejected' && a.reason === busy)).toBe(true);
    expect(calls).toBe(1);
  });
});
