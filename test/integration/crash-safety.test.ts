import { afterEach, describe, expect, it } from 'vitest';
import { callJson, cleanupChildren, startChild, tempDataDir } from '../helpers/child.ts';
import { databaseEnv } from '../helpers/store-under-test.ts';

const KEY = 'tdk_crash_safety_key_0123456789';
const EVENTS = 300;
const IN_FLIGHT = 16;
const SUBSCRIBER = 'crash_user';

afterEach(cleanupChildren);

describe('crash safety (acceptance)', () => {
  // With the default settings the worker often keeps up, so the kill may find little pending; a
  // two-slot worker in the first process guarantees hundreds of ready (and some leased) jobs at
  // the moment of the kill. The restarted process always runs with the defaults.
  it.each([
    ['default settings', {}],
    ['a backlog (TIDINGS_WORKER_CONCURRENCY=2 before the crash)', { TIDINGS_WORKER_CONCURRENCY: '2' }],
  ])(
    'keeps every accepted event when SIGKILLed right after the last 202, with %s',
    async (_, firstEnv) => {
      const dataDir = tempDataDir('tidings-crash-');
      const env = { ...(await databaseEnv(dataDir)), TIDINGS_API_KEY: KEY };

      const first = await startChild({ ...env, ...firstEnv });
      const put = await callJson(`${first.url}/v1/workflows/w`, 'PUT', KEY, {
        channels: [{ channel: 'in_app', template: { title: 'Hi {{ data.n }}', body: 'b' } }],
      });
      expect(put.status).toBe(200);

      // 300 events to one subscriber, IN_FLIGHT at a time; SIGKILL the moment the last 202 is read.
      const eventIds: string[] = [];
      const failures: string[] = [];
      let next = 0;
      let done = 0;
      const sendOne = async (n: number) => {
        const response = await callJson(`${first.url}/v1/events`, 'POST', KEY, {
          workflow: 'w',
          to: [SUBSCRIBER],
          data: { n },
        });
        done++;
        if (response.status === 202 && response.body?.status === 'accepted')
          eventIds.push(response.body.eventId);
        else failures.push(`event ${n}: ${response.status} ${JSON.stringify(response.body)}`);
        if (done === EVENTS) first.kill('SIGKILL');
      };
      const lane = async () => {
        while (next < EVENTS) await sendOne(next++);
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
      await first.exited;
      expect(first.proc.signalCode).toBe('SIGKILL');
      expect(failures).toEqual([]);
      expect(eventIds).toHaveLength(EVENTS);
      expect(new Set(eventIds).size).toBe(EVENTS);

      // Restart on the same database: everything accepted must end up in the inbox, once.
      const second = await startChild(env);
      const minted = await callJson(`${second.url}/v1/subscribers/${SUBSCRIBER}/token`, 'POST', KEY);
      expect(minted.status).toBe(200);
      const token: string = minted.body.token;

      // biome-ignore lint/suspicious/noExplicitAny: inbox items are checked field by field
      let items: any[] = [];
      const deadline = Date.now() + 20_000;
      for (;;) {
        items = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          if (++pages > 50) throw new Error('inbox pagination does not end (nextCursor keeps coming)');
          const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
          const page = await callJson(`${second.url}/v1/inbox?limit=100${query}`, 'GET', token);
          expect(page.status, JSON.stringify(page.body)).toBe(200);
          items.push(...page.body.items);
          cursor = page.body.nextCursor;
        } while (cursor);
        if (new Set(items.map((item) => item.id)).size >= EVENTS || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }

      expect(items).toHaveLength(EVENTS);
      expect(new Set(items.map((item) => item.id)).size).toBe(EVENTS);
      const perEvent = new Map<string, number>();
      for (const item of items) perEvent.set(item.eventId, (perEvent.get(item.eventId) ?? 0) + 1);
      expect(perEvent.size).toBe(EVENTS);
      const missing = eventIds.filter((id) => !perEvent.has(id));
      expect(missing).toEqual([]);
      const repeated = [...perEvent].filter(([, count]) => count !== 1);
      expect(repeated).toEqual([]);

      const unread = await callJson(`${second.url}/v1/inbox/unread-count`, 'GET', token);
      expect(unread.status).toBe(200);
      expect(unread.body.count).toBe(EVENTS);
    },
    60_000,
  );
});
