import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledMessages } from '../helpers/messages.ts';
import { withPostgres } from '../helpers/pg-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { STORE_UNDER_TEST } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

// Distinctive values: found anywhere in the database, they were stored in clear.
const EMAIL = 'Octavia.Brightwater-6620@example.org';
const PHONE = '+447700966201';
const INLINE_EMAIL = 'inline.barnaby.8817@example.net';
const INLINE_PHONE = '+15550188172';
const TOKEN = 'c0ffee42'.repeat(8);

/** Every row of every table as text and, on SQLite, the bytes of the database file and its WAL. */
async function everythingStored(server: TestServer): Promise<string> {
  const url = server.databaseUrl;
  if (url.startsWith('sqlite:')) {
    const file = path.resolve(url.slice('sqlite:'.length));
    const parts: string[] = [];
    const db = new Database(file, { readonly: true });
    try {
      const tables = db
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
        .pluck()
        .all() as string[];
      for (const table of tables) parts.push(JSON.stringify(db.prepare(`SELECT * FROM "${table}"`).all()));
    } finally {
      db.close();
    }
    for (const bytes of [file, `${file}-wal`])
      if (existsSync(bytes)) parts.push(readFileSync(bytes).toString('latin1'));
    return parts.join('\n');
  }
  return withPostgres(url, async (client) => {
    const { rows: tables } = await client.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    const parts: string[] = [];
    for (const { name } of tables) {
      const { rows } = await client.query<{ row: string }>(`SELECT t::text AS row FROM "${name}" AS t`);
      parts.push(...rows.map((r) => r.row));
    }
    return parts.join('\n');
  });
}

/** Erasure jobs not finished yet (ready or running), in a SQLite installation. */
function erasuresLeft(server: TestServer): number {
  const db = new Database(path.resolve(server.databaseUrl.slice('sqlite:'.length)), { readonly: true });
  try {
    return (
      db
        .prepare(
          `SELECT count(*) AS n FROM jobs WHERE kind = 'erase-subscriber' AND state IN ('ready', 'leased')`,
        )
        .get() as { n: number }
    ).n;
  } finally {
    db.close();
  }
}

describe('personal data at rest (API.md "Personal data")', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('after a full send on every address channel, the database holds no email, phone or token in clear, while the API shows them', async () => {
    expect(
      (
        await server.call('PUT', '/v1/workflows/pd-all', {
          channels: [
            { channel: 'in_app', template: { title: 'Hi {{ subscriber.locale }}', body: 'b' } },
            { channel: 'email', template: { subject: 'Hello', text: 'Hi there' } },
            { channel: 'sms', template: { text: 'Hi there' } },
            { channel: 'push', template: { title: 'Hi', body: 'there' } },
          ],
        })
      ).status,
    ).toBe(200);
    expect(
      (await server.call('PUT', '/v1/subscribers/octavia', { email: EMAIL, phone: PHONE, locale: 'en-GB' }))
        .status,
    ).toBe(200);
    expect(
      (
        await server.call('PUT', '/v1/subscribers/octavia/devices/phone', {
          platform: 'apns',
          token: TOKEN,
        })
      ).status,
    ).toBe(200);

    const sent = await server.call('POST', '/v1/events', {
      workflow: 'pd-all',
      to: ['octavia', { subscriberId: 'barnaby', email: INLINE_EMAIL, phone: INLINE_PHONE }],
    });
    expect(sent.status).toBe(202);
    // octavia: in_app, email, sms, push; barnaby: in_app, email, sms, push (no device: suppressed).
    const messages = await settledMessages(server, [sent.body.eventId], 8);
    const statuses = messages.map((m) => `${m.subscriberId}/${m.channel}/${m.status}`).sort();
    expect(statuses).toEqual([
      'barnaby/email/sent',
      'barnaby/in_app/delivered',
      'barnaby/push/suppressed',
      'barnaby/sms/sent',
      'octavia/email/sent',
      'octavia/in_app/delivered',
      'octavia/push/sent',
      'octavia/sms/sent',
    ]);

    // The tenant still sees the plain values.
    const octavia = await server.call('GET', '/v1/subscribers/octavia');
    expect(octavia.body).toMatchObject({ email: EMAIL, phone: PHONE });
    const barnaby = await server.call('GET', '/v1/subscribers/barnaby');
    expect(barnaby.body).toMatchObject({ email: INLINE_EMAIL, phone: INLINE_PHONE });
    // The event names its inline recipient by reference: the address is the subscriber's.
    const event = await server.call('GET', `/v1/events/${sent.body.eventId}`);
    expect(event.body.to).toEqual(['octavia', { subscriberId: 'barnaby' }]);
    expect(JSON.stringify(event.body)).not.toContain('pd1.');
    const captured = (await server.call('GET', '/v1/sandbox/messages?limit=50')).body.items.map(
      (c: { to: string }) => c.to,
    );
    expect(captured).toEqual(expect.arrayContaining([EMAIL, PHONE, INLINE_EMAIL, INLINE_PHONE, 'phone']));

    const stored = await everythingStored(server);
    expect(stored).toContain('octavia'); // the dump sees the rows
    for (const value of [
      EMAIL,
      PHONE,
      INLINE_EMAIL,
      INLINE_PHONE,
      TOKEN,
      'Octavia.Brightwater',
      'barnaby.8817',
    ]) {
      expect(stored.toLowerCase().includes(value.toLowerCase()), value).toBe(false);
    }
    expect(stored).not.toContain('7700966201');
    expect(stored).not.toContain('5550188172');
  });

  it('a digest keyed by an address stores the key as a keyed hash', async () => {
    const email = 'digest.quentin.4471@example.com';
    const phone = '+15550144719';
    expect(
      (
        await server.call('PUT', '/v1/workflows/pd-digest', {
          channels: [{ channel: 'in_app', template: { title: '{{ count }} new' } }],
          digest: { window: '10m', key: '{{ subscriber.email }}|{{ subscriber.phone }}' },
        })
      ).status,
    ).toBe(200);
    const events: string[] = [];
    for (let n = 0; n < 2; n++) {
      const sent = await server.call('POST', '/v1/events', {
        workflow: 'pd-digest',
        to: [{ subscriberId: 'quentin', email, phone }],
      });
      expect(sent.status).toBe(202);
      events.push(sent.body.eventId as string);
    }
    // Both events joined one open digest (its close is ten minutes away).
    const reasons = await waitFor(async () => {
      const views = await Promise.all(events.map((id) => server.call('GET', `/v1/events/${id}`)));
      const skipped = views.map((view) => view.body.skipped?.[0]?.reason as string | undefined);
      return skipped.every(Boolean) ? (skipped as string[]) : null;
    }, 'both events gathered into the digest');
    expect(reasons![0]).toMatch(/^digest: gathered into the digest closing at /);
    expect(reasons![1]).toBe(reasons![0]);

    const stored = await everythingStored(server);
    expect(stored).toContain('quentin');
    expect(stored.toLowerCase()).not.toContain('digest.quentin.4471');
    expect(stored).not.toContain('5550144719');
  });

  // SQLite's files are read byte by byte; on PostgreSQL the erasure's last pass waits a minute
  // (ERASURE_CLOCK_MARGIN_MS), and its rows are checked by the store contract.
  it.runIf(STORE_UNDER_TEST === 'sqlite')(
    "once an erasure has finished, the database files hold nothing of the subscriber's messages: no row, no free page, no log frame",
    async () => {
      // Words only cyrus's messages hold: in content (long enough for overflow pages) and data.
      const CONTENT = 'capybara-erased-7719';
      const DATA = 'axolotl-erased-3306';
      expect(
        (
          await server.call('PUT', '/v1/workflows/pd-erase', {
            channels: [
              { channel: 'in_app', template: { title: 'About {{ data.topic }}', body: '{{ data.long }}' } },
              { channel: 'email', template: { subject: '{{ data.topic }}', text: '{{ data.long }}' } },
            ],
          })
        ).status,
      ).toBe(200);
      const sent = await server.call('POST', '/v1/events', {
        workflow: 'pd-erase',
        to: [{ subscriberId: 'cyrus', email: 'cyrus@example.com' }],
        data: { topic: DATA, long: `${CONTENT} `.repeat(400) },
      });
      expect(sent.status).toBe(202);
      await settledMessages(server, [sent.body.eventId], 2);
      expect(await everythingStored(server)).toContain(DATA); // the dump sees them before

      expect((await server.call('DELETE', '/v1/subscribers/cyrus')).status).toBe(202);
      await waitFor(() => erasuresLeft(server) === 0, 'the erasure job to finish', 20_000);
      // The log is truncated once nothing holds it (the checkpoint thread's pass, a reader): soon.
      const stored = await waitFor<string | null>(async () => {
        const now = await everythingStored(server);
        return now.includes(CONTENT) || now.includes(DATA) ? null : now;
      }, "the log's older frames to be gone");
      for (const word of [CONTENT, DATA]) expect(stored?.includes(word), word).toBe(false);
    },
  );
});
