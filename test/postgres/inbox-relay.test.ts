import { afterEach, describe, expect, it } from 'vitest';
import { type FeedNotice, type InboxChange, InboxFeed } from '../../src/inbox/feed.ts';
import { relayInboxFeed } from '../../src/inbox/relay.ts';
import type { Store } from '../../src/store/port.ts';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { withPostgres } from '../helpers/pg-client.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function store(url: string): Promise<Store> {
  const opened = await openPostgresStore({ url });
  closers.push(() => opened.close());
  return opened;
}

/** Two "processes" (relays of their own names) on one database: what `b`'s feed hears of `a`'s. */
async function twoRelays() {
  const url = await freshDatabaseUrl();
  const a = new InboxFeed();
  const b = new InboxFeed();
  closers.push(await relayInboxFeed(await store(url), a, { listen: false, name: 'process-a' }));
  closers.push(await relayInboxFeed(await store(url), b, { listen: true, name: 'process-b' }));
  const heard: InboxChange[] = [];
  b.tap((changes, origin) => {
    if (origin === 'remote') heard.push(...changes);
  });
  return { url, a, b, heard };
}

const cjk = (n: number) => `用户${String(n).padStart(4, '0')}${'漢'.repeat(90)}`;

describe.runIf(postgresAvailable)('the inbox relay on PostgreSQL', () => {
  it('relays a batch of changes whose ids are CJK (3 bytes a character), other tenants’ with them', async () => {
    const { a, heard } = await twoRelays();
    // ~380 bytes but ~140 characters each: cut by characters, a payload held ~20,000 bytes.
    const changes: InboxChange[] = Array.from({ length: 60 }, (_, n) => ({
      type: 'item.updated',
      tenantId: 'cjk',
      subscriberId: cjk(n),
      itemId: `i${n}`,
    }));
    changes.push({ type: 'item.updated', tenantId: 'other', subscriberId: 'plain', itemId: 'p' });
    a.publish(changes);
    await waitFor(() => heard.length === changes.length, 'every change to be relayed');
    expect(heard).toEqual(changes);
  });

  it('a change too large for any payload is taken for a gap by the receivers; the rest still go', async () => {
    const { a, b, heard } = await twoRelays();
    const notices: FeedNotice[] = [];
    b.subscribe('t', 'watching', (notice) => notices.push(notice));
    a.publish([
      { type: 'item.updated', tenantId: 't', subscriberId: '漢'.repeat(3_000), itemId: 'huge' },
      { type: 'item.updated', tenantId: 't', subscriberId: 'watching', itemId: 'small' },
    ]);
    await waitFor(() => notices.length === 2, 'the gap and the small change');
    expect(notices).toEqual(
      expect.arrayContaining([
        { type: 'feed.gap' },
        { type: 'item.updated', tenantId: 't', subscriberId: 'watching', itemId: 'small' },
      ]),
    );
    expect(heard).toEqual([
      { type: 'item.updated', tenantId: 't', subscriberId: 'watching', itemId: 'small' },
    ]);
  });

  it('a payload PostgreSQL refuses does not take the others of its NOTIFY with it', async () => {
    const url = await freshDatabaseUrl();
    const heard: string[] = [];
    const listening = await store(url);
    const listener = await listening.openChannel!('inbox', (payload) => heard.push(payload));
    closers.push(() => listener.close());
    const errors: Error[] = [];
    const sending = await openPostgresStore({ url, onError: (error) => errors.push(error) });
    closers.push(() => sending.close());
    const channel = await sending.openChannel!('inbox', null);
    closers.push(() => channel.close());
    // Published in one turn: they go out coalesced, in one statement.
    channel.publish('before');
    channel.publish('x'.repeat(9_000));
    channel.publish('after');
    await waitFor(() => heard.length === 2, 'the two good payloads');
    expect(heard.sort()).toEqual(['after', 'before']);
    await waitFor(() => errors.length === 1, 'the refused payload to be reported');
    expect(errors[0]!.message).toMatch(/payload string too long/);
  });

  it('a payload of the wrong shape is taken for a gap, not thrown in the driver’s handler', async () => {
    const { url, b, heard } = await twoRelays();
    let gaps = 0;
    b.subscribe('t', 'watching', (notice) => {
      if (notice.type === 'feed.gap') gaps++;
    });
    const bad = [
      'null',
      '{}',
      '[1]',
      '{"from":"x","changes":[null]}',
      '{"from":"x","changes":[{"type":"item.updated","tenantId":"t"}]}',
      '{"from":"x","changes":[{"type":"nonsense","tenantId":"t","subscriberId":"watching"}]}',
      '{"from":"x","changes":[{"type":"item.created","tenantId":"t","subscriberId":"watching","itemId":"i","logged":{"seq":1,"unread":true,"view":"<script>"}}]}',
    ];
    await withPostgres(url, async (client) => {
      for (const payload of bad) await client.query("SELECT pg_notify('tidings_inbox', $1)", [payload]);
    });
    await waitFor(() => gaps === bad.length, 'a gap for each bad payload');
    expect(heard).toEqual([]);
  });
});
