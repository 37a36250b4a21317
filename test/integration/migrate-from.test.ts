import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newDataKey } from '../../src/security/personal-data.ts';
import { PERSONAL_DATA_KEY_SETTING } from '../../src/security/personal-data-key.ts';
import { hashApiKey } from '../../src/security/secrets.ts';
import type { Lane, MessageRecord, TimelineEntry } from '../../src/shared/model.ts';
import type { AcceptEvent, InboxPage, Job, Store } from '../../src/store/port.ts';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { ADVISORY_LOCKS } from '../../src/store/postgres/locks.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { TransferRefused } from '../../src/store/transfer/errors.ts';
import { MARKER_KEY } from '../../src/store/transfer/preflight.ts';
import { copySqliteToPostgres } from '../../src/store/transfer/sqlite-to-postgres.ts';
import { columnNames, TABLES } from '../../src/store/transfer/tables.ts';
import { cleanupChildren, runCli, sqliteEnv, tempDataDir } from '../helpers/child.ts';
import { messageRecord } from '../helpers/message-record.ts';
import { withPostgres } from '../helpers/pg-client.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';

const T = 'ten_a';
const OTHER = 'ten_b';
const SECRET = 'the-sqlite-installations-master-secret';
const API_KEY = 'tdk_migrate_from_test_key_0123456789';
const DAY = 86_400_000;
const ACCEPTED_AT = Date.now() - 60_000;
const LANES: Lane[] = ['critical', 'normal', 'bulk'];
const MEMBERS = Array.from({ length: 25 }, (_, i) => `s${String(i).padStart(3, '0')}`);

function acceptable(id: string, over: Partial<AcceptEvent> = {}): AcceptEvent {
  return {
    tenantId: T,
    id,
    input: { workflow: 'welcome', to: ['u1'], data: { name: 'Ada' } },
    idempotencyKey: null,
    payloadHash: null,
    now: ACCEPTED_AT,
    inlineSubscribers: [],
    subscriberIds: ['u1'],
    job: { kind: 'fanout', runAt: ACCEPTED_AT },
    ...over,
  };
}

function inApp(id: string, eventAt: number, over: Partial<MessageRecord> = {}): MessageRecord {
  const timeline: TimelineEntry[] = [{ at: new Date(eventAt).toISOString(), status: 'delivered' }];
  return messageRecord({
    tenantId: T,
    id,
    content: { title: `Title ${id}`, body: 'Body with "quotes", \\ and ünïcødé 🎉' },
    data: { n: eventAt, list: [1, 2, { deep: true }] },
    timeline,
    eventAt,
    createdAt: eventAt,
    updatedAt: eventAt,
    ...over,
  });
}

/** A small but complete installation: every table has rows, jobs in every state. */
async function buildInstallation(store: Store): Promise<void> {
  await store.settingOnce('master_secret', SECRET);
  await store.ensureTenant(T, 'Tenant A');
  await store.ensureTenant(OTHER, 'Tenant B');
  await store.addApiKey({
    tenantId: T,
    hash: hashApiKey(API_KEY),
    prefix: API_KEY.slice(0, 8),
    label: 'default',
  });
  await store.putWorkflow(T, 'welcome', { channels: [] }, 10);
  await store.putWorkflow(
    T,
    'welcome',
    {
      name: 'Welcome',
      channels: [{ channel: 'in_app', template: { title: 'Hi {{ data.name }}', body: 'b' } }],
    },
    11,
  );
  await store.putWorkflow(OTHER, 'digest', { priority: 'bulk', channels: [] }, 12);
  await store.putIntegration(
    {
      tenantId: T,
      id: 'int_smtp',
      channel: 'email',
      provider: 'smtp',
      priority: 1,
      config: { host: 'smtp.example.com', port: 587 },
      sealedCredentials: 'v1.aXY.dGFn.Ym9keQ',
      enabled: true,
    },
    13,
  );
  await store.putIntegration(
    {
      tenantId: T,
      id: 'int_off',
      channel: 'sms',
      provider: 'sandbox',
      priority: 2,
      config: {},
      sealedCredentials: null,
      enabled: false,
    },
    14,
  );
  await store.upsertSubscriber(
    T,
    'u1',
    {
      email: 'ada@example.com',
      phone: '+441234567890',
      locale: 'en-GB',
      timezone: 'Europe/London',
      data: { plan: 'pro', tags: ['a', 'b'], nested: { ratio: 1.5, ok: true, nil: null } },
    },
    20,
  );
  await store.upsertDevice(
    {
      tenantId: T,
      subscriberId: 'u1',
      id: 'phone',
      platform: 'apns',
      token: 'ab'.repeat(32),
      subscription: null,
    },
    20,
    100,
  );
  const browser = {
    tenantId: T,
    subscriberId: 'u1',
    id: 'browser',
    platform: 'webpush' as const,
    token: '',
    subscription: { endpoint: 'https://push.example.com/x', keys: { p256dh: 'BKey', auth: 'auth' } },
  };
  await store.upsertDevice(browser, 20, 100);
  await store.deactivateDevice(browser, 'expired', 21);
  await store.upsertTopic(T, 'news', 'News', 21);
  await store.addTopicMembers(T, 'news', MEMBERS, 22);
  await store.patchPreferences(
    T,
    'u1',
    { categories: { marketing: { email: false } }, quietHours: { start: '22:00', end: '07:00' } },
    23,
  );
  await store.patchTenantSettings(T, { defaultTimezone: 'Asia/Tokyo' }, 24);
  await store.putWebhookEndpoint(
    {
      tenantId: T,
      id: 'hooks',
      url: 'https://example.com/hooks',
      events: ['message.sent'],
      sealedSecrets: 'v2.x',
    },
    24,
  );
  await store.disableWebhookEndpoint(T, 'hooks', 'https://example.com/hooks', 'HTTP 410 Gone', 25);
  await store.takeRateCounts(
    T,
    [{ scope: 'news\u001ftenant', limit: 5, windowEnd: 4_000_000_000_000 }],
    [{ shared: [0], parts: [[]] }],
  );

  await store.acceptEvents(
    [
      acceptable('evt_1', { idempotencyKey: 'idem-1', payloadHash: 'hash-1' }),
      acceptable('evt_2'),
      acceptable('evt_3', { input: { workflow: 'welcome', to: ['u1'], priority: 'critical' } }),
    ],
    DAY,
  );
  // Jobs that die or stay leased first, so the claims below take exactly them.
  await store.enqueueJobs([{ tenantId: T, kind: 'doomed', lane: 'bulk', payload: { x: 1 }, maxAttempts: 1 }]);
  const [doomed] = await store.claimJobs({
    owner: 'old',
    now: Date.now(),
    leaseMs: 60_000,
    quotas: [{ lane: 'bulk', limit: 1 }],
  });
  await store.deadJob('old', doomed!.id, 'provider said no');
  await store.enqueueJobs([
    { tenantId: T, kind: 'send', lane: 'bulk', payload: { messageId: 'msg_a' }, partitionKey: 'p:u1' },
    { tenantId: OTHER, kind: 'send', lane: 'bulk', payload: { messageId: 'msg_b' } },
  ]);
  const leased = await store.claimJobs({
    owner: 'old-worker',
    now: Date.now(),
    leaseMs: 60_000,
    quotas: [{ lane: 'bulk', limit: 2 }],
  });
  expect(leased).toHaveLength(2);
  // A fallback step still to fire is an open part of its event (migration 050): copied, it must
  // not be counted a second time on top of the event's copied count.
  await store.enqueueJobs([
    {
      tenantId: T,
      kind: 'fallback',
      lane: 'normal',
      payload: { eventId: 'evt_1', subscriberId: 'u1', step: 1 },
      runAt: ACCEPTED_AT + 3_600_000,
    },
  ]);

  const messages = [
    inApp('msg_01', 1_000),
    inApp('msg_02', 2_000),
    inApp('msg_03', 3_000),
    inApp('msg_04', 3_000),
    inApp('msg_05', 5_000),
    inApp('msg_06', 6_000),
    inApp('msg_07', 7_000),
    inApp('msg_08', 8_000, { subscriberId: 's001' }),
    inApp('msg_mail', 9_000, { channel: 'email', status: 'queued', provider: null }),
    inApp('msg_push', 9_500, {
      channel: 'push',
      status: 'sent',
      provider: 'sandbox',
      deviceId: 'phone',
      providerMessageId: 'apns-1',
      meta: { deviceId: 'phone', collapseId: 'c' },
    }),
  ];
  await store.createMessages(
    messages.map((record) => ({
      record,
      followUp:
        record.channel === 'email'
          ? {
              tenantId: T,
              kind: 'send',
              lane: 'normal',
              payload: { messageId: record.id },
              partitionKey: 'p:u1:mail',
              runAt: ACCEPTED_AT + 3_600_000,
            }
          : null,
    })),
  );
  await store.markInbox(T, 'u1', 'msg_02', 'read', 10_000);
  await store.markInbox(T, 'u1', 'msg_03', 'archive', 10_100);
  await store.markInbox(T, 'u1', 'msg_04', 'seen', 10_200);
  await store.updateMessage(T, 'msg_mail', {
    status: 'sent',
    provider: 'smtp',
    append: [{ at: new Date(10_300).toISOString(), status: 'sent', detail: '250 OK' }],
    now: 10_300,
  });
  await store.saveSandboxCapture({
    id: 'cap_1',
    tenantId: T,
    messageId: 'msg_mail',
    channel: 'email',
    to: 'ada@example.com',
    content: { subject: 'Hello', html: '<p>Hi</p>' },
    createdAt: 10_400,
  });
  await store.recordReport(T, 'twilio:SM0123', 10_500);
}

/** Subscribers with a change log or a cursor in a SQLite file. */
function subscribersWithInboxLogs(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare(
        `SELECT COUNT(*) FROM (SELECT tenant_id, subscriber_id FROM inbox_changes
         UNION SELECT tenant_id, subscriber_id FROM inbox_cursors)`,
      )
      .pluck()
      .get() as number;
  } finally {
    db.close();
  }
}

function countRows(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    return Object.fromEntries(
      TABLES.map((t) => [t.name, db.prepare(`SELECT COUNT(*) FROM ${t.name}`).pluck().get() as number]),
    );
  } finally {
    db.close();
  }
}

async function countPostgresRows(url: string): Promise<Record<string, number>> {
  return withPostgres(url, async (client) => {
    const counts: Record<string, number> = {};
    for (const t of TABLES) {
      const { rows } = await client.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${t.name}`);
      counts[t.name] = Number(rows[0]!.n);
    }
    return counts;
  });
}

/** Every inbox item, page by page (3 at a time), newest first. */
async function wholeInbox(store: Store, subscriberId: string, archived: boolean): Promise<MessageRecord[]> {
  const all: MessageRecord[] = [];
  let before: InboxPage['before'] = null;
  for (;;) {
    const page = await store.listInbox({ tenantId: T, subscriberId, before, limit: 3, archived });
    all.push(...page);
    if (page.length < 3) return all;
    const last = page.at(-1)!;
    before = { eventAt: last.eventAt, id: last.id };
  }
}

async function wholeTopic(store: Store, key: string): Promise<string[][]> {
  const pages: string[][] = [];
  let after: string | null = null;
  for (;;) {
    const page = await store.topicMembersPage(T, key, after, 10);
    if (page.length === 0) return pages;
    pages.push(page);
    after = page.at(-1)!;
  }
}

async function claimEverything(store: Store): Promise<Job[]> {
  const claimed: Job[] = [];
  for (;;) {
    const batch = await store.claimJobs({
      owner: 'new-worker',
      now: Date.now() + 2 * DAY,
      leaseMs: 60_000,
      quotas: LANES.map((lane) => ({ lane, limit: 100 })),
    });
    if (batch.length === 0) return claimed;
    claimed.push(...batch);
    // Completing frees each partition for the next job queued behind it.
    await store.completeJobs(
      'new-worker',
      batch.map((j) => j.id),
    );
  }
}

interface SourceJob {
  id: number;
  tenant_id: string;
  kind: string;
  lane: string;
  partition_key: string | null;
  run_at: number;
  attempts: number;
  max_attempts: number;
  state: string;
  payload: string;
  created_at: number;
}

function sourceJobs(file: string): SourceJob[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT * FROM jobs ORDER BY id').all() as SourceJob[];
  } finally {
    db.close();
  }
}

// The copy always goes from SQLite to PostgreSQL whatever store the suite runs on, so the second
// pass of the end-to-end suite (TIDINGS_TEST_STORE=postgres) would only repeat it.
const secondPass = process.env.TIDINGS_TEST_STORE === 'postgres';

describe.runIf(postgresAvailable && !secondPass)('tidings migrate --from sqlite:PATH', () => {
  let dir: string;
  let file: string;
  const DATA_KEY = newDataKey();
  let sqlite: Store;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tidings-migrate-from-'));
    file = path.join(dir, 'tidings.db');
    sqlite = openSqliteStore({ file });
    // As a start would: the installation's one data key (src/security/personal-data-key.ts).
    sqlite.personalData.use(DATA_KEY);
    await buildInstallation(sqlite);
  });
  afterAll(async () => {
    await sqlite?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(cleanupChildren);

  it('names exactly the columns of both schemas', async () => {
    const db = new Database(file, { readonly: true });
    const sqliteTables = db
      .prepare(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'`,
      )
      .pluck()
      .all() as string[];
    const sqliteColumns = Object.fromEntries(
      sqliteTables.map((t) => [
        t,
        db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(t) as string[],
      ]),
    );
    db.close();
    const url = await freshDatabaseUrl();
    await (await openPostgresStore({ url })).close();
    const pgColumns = await withPostgres(url, async (client) => {
      const { rows } = await client.query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name <> 'schema_migrations' ORDER BY ordinal_position`,
      );
      const byTable: Record<string, string[]> = {};
      for (const row of rows) byTable[row.table_name] = [...(byTable[row.table_name] ?? []), row.column_name];
      return byTable;
    });
    const ours = Object.fromEntries(TABLES.map((t) => [t.name, columnNames(t).sort()]));
    const sorted = (tables: Record<string, string[]>) =>
      Object.fromEntries(Object.entries(tables).map(([t, c]) => [t, [...c].sort()]));
    expect(sorted(sqliteColumns)).toEqual(ours);
    expect(sorted(pgColumns)).toEqual(ours);
  });

  it('copies every table so the installation carries on in PostgreSQL', async () => {
    const url = await freshDatabaseUrl();
    const lines: string[] = [];
    const sourceCounts = countRows(file);
    const report = await copySqliteToPostgres({
      sourceFile: file,
      targetUrl: url,
      batchRows: 3,
      log: (line) => lines.push(line),
    });
    expect(report).toMatchObject({ alreadyCopied: false, resumed: false, secret: 'copied' });
    for (const table of report.tables) {
      // Consent versions are made by triggers as the consent tables are copied in (copied last,
      // each of their tenants has its row already).
      const made = table.table === 'consent_versions';
      expect(table, table.table).toMatchObject({
        sent: sourceCounts[table.table],
        total: sourceCounts[table.table],
        inserted: made ? 0 : sourceCounts[table.table],
      });
    }
    expect(lines).toContain(`messages: ${sourceCounts.messages}/${sourceCounts.messages}`);
    expect(lines.join('\n')).toMatch(/leased by a worker that looks alive/);
    // The marker is the copy's own setting, and every subscriber with a change log has its inbox
    // cursor (PostgreSQL numbers from it); everything else matches the source row for row.
    expect(await countPostgresRows(url)).toEqual({
      ...sourceCounts,
      settings: sourceCounts.settings! + 1,
      inbox_cursors: subscribersWithInboxLogs(file),
    });

    const jobsBefore = sourceJobs(file);
    const maxCopiedId = Math.max(...jobsBefore.map((j) => j.id));
    const store = await openPostgresStore({ url });
    store.personalData.use(DATA_KEY);
    try {
      // Keys, tenants and the master secret (tokens and sealed credentials depend on it).
      expect(await store.tenantForKeyHash(hashApiKey(API_KEY))).toBe(T);
      expect(await store.countApiKeys(T, 'default')).toBe(1);
      expect(await store.tenantExists(OTHER)).toBe(true);
      expect(await store.settingOnce('master_secret', 'a-new-one')).toBe(SECRET);

      // Subscribers, topics, workflows, integrations: the same records through the same port.
      const u1 = await store.getSubscriber(T, 'u1');
      expect(u1).toMatchObject({
        email: 'ada@example.com',
        phone: '+441234567890',
        locale: 'en-GB',
        timezone: 'Europe/London',
        data: { plan: 'pro', tags: ['a', 'b'], nested: { ratio: 1.5, ok: true, nil: null } },
      });
      expect(u1).toEqual(await sqlite.getSubscriber(T, 'u1'));
      expect(await store.getTopic(T, 'news')).toEqual(await sqlite.getTopic(T, 'news'));
      const devices = await store.listDevices(T, 'u1');
      expect(devices).toEqual(await sqlite.listDevices(T, 'u1'));
      expect(devices.map((d) => [d.id, d.active, d.reason])).toEqual([
        ['browser', false, 'expired'],
        ['phone', true, null],
      ]);
      const pages = await wholeTopic(store, 'news');
      expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
      expect(pages.flat()).toEqual(MEMBERS);
      expect(await store.countTopicMembers(T, 'news')).toBe(25);
      expect(await store.getPreferences(T, 'u1')).toEqual(await sqlite.getPreferences(T, 'u1'));
      expect((await store.getPreferences(T, 'u1'))?.quietHours).toEqual({ start: '22:00', end: '07:00' });
      expect(await store.getTenantSettings(T)).toEqual({
        defaultTimezone: 'Asia/Tokyo',
        dailyCap: null,
        inboxTabs: {},
      });
      expect(await store.listWorkflows(T)).toEqual(await sqlite.listWorkflows(T));
      expect((await store.getWorkflow(T, 'welcome'))?.version).toBe(2);
      expect(await store.listWorkflows(OTHER)).toEqual(await sqlite.listWorkflows(OTHER));
      const integrations = await store.listIntegrations(T);
      expect(integrations).toEqual(await sqlite.listIntegrations(T));
      expect(integrations.map((i) => [i.id, i.enabled, i.sealedCredentials])).toEqual([
        ['int_smtp', true, 'v1.aXY.dGFn.Ym9keQ'],
        ['int_off', false, null],
      ]);

      // Events and idempotency: a repeated key still answers the original event.
      expect(await store.getEvent(T, 'evt_1')).toEqual(await sqlite.getEvent(T, 'evt_1'));
      expect((await store.getEvent(T, 'evt_3'))?.priority).toBe('critical');
      expect(
        await store.acceptEvents(
          [
            acceptable('evt_again', {
              idempotencyKey: 'idem-1',
              payloadHash: 'hash-1',
              now: ACCEPTED_AT + 1,
            }),
          ],
          DAY,
        ),
      ).toEqual([{ ok: true, eventId: 'evt_1', duplicate: true }]);

      // The inbox: order, paging, read/seen/archived state and unread counts.
      const inbox = await wholeInbox(store, 'u1', false);
      expect(inbox.map((m) => m.id)).toEqual(['msg_07', 'msg_06', 'msg_05', 'msg_04', 'msg_02', 'msg_01']);
      expect(inbox).toEqual(await wholeInbox(sqlite, 'u1', false));
      expect(await wholeInbox(store, 'u1', true)).toEqual(await wholeInbox(sqlite, 'u1', true));
      expect((await store.getMessage(T, 'msg_02'))?.readAt).toBe(10_000);
      expect((await store.getMessage(T, 'msg_03'))?.archivedAt).toBe(10_100);
      expect(await store.countUnread(T, 'u1')).toBe(await sqlite.countUnread(T, 'u1'));
      expect(await store.countUnread(T, 'u1')).toBe(5);

      // Message timelines and the full message list.
      const mail = await store.getMessage(T, 'msg_mail');
      expect(mail?.timeline.map((e) => e.status)).toEqual(['delivered', 'sent']);
      expect(mail).toEqual(await sqlite.getMessage(T, 'msg_mail'));
      expect(await store.getMessage(T, 'msg_push')).toMatchObject({
        deviceId: 'phone',
        providerMessageId: 'apns-1',
        meta: { deviceId: 'phone', collapseId: 'c' },
      });
      expect(await store.listMessages({ tenantId: T, limit: 100 })).toEqual(
        await sqlite.listMessages({ tenantId: T, limit: 100 }),
      );
      expect(await store.listSandboxCaptures(T, 10)).toEqual(await sqlite.listSandboxCaptures(T, 10));

      // The change log carries on: clients resume where they were, and a new change is numbered
      // past the copied ones (PostgreSQL numbers from inbox_cursors, which SQLite fills only on purge).
      const lastLogged = await sqlite.lastInboxChange(T, 'u1');
      expect(lastLogged).toBeGreaterThan(0);
      expect(await store.lastInboxChange(T, 'u1')).toBe(lastLogged);
      expect(await store.markInbox(T, 'u1', 'msg_01', 'read', 20_000)).toBeTruthy();
      expect(await store.lastInboxChange(T, 'u1')).toBe(lastLogged + 1);

      // Jobs: leases are gone (the old workers are), dead letters stay dead, ids and payloads kept.
      const states = jobsBefore.map((j) => j.state);
      expect(states).toContain('leased');
      expect(await store.countJobs()).toEqual({
        ready: states.filter((s) => s !== 'dead').length,
        leased: 0,
        dead: states.filter((s) => s === 'dead').length,
      });
      expect(await store.leaseOwners()).toEqual([]);
      expect(await store.listDeadJobs(10)).toEqual(await sqlite.listDeadJobs(10));
      const claimed = await claimEverything(store);
      const live = jobsBefore.filter((j) => j.state !== 'dead');
      expect(claimed.map((j) => j.id).sort((a, b) => a - b)).toEqual(live.map((j) => j.id));
      for (const job of claimed) {
        const before = live.find((j) => j.id === job.id)!;
        expect(job).toMatchObject({
          tenantId: before.tenant_id,
          kind: before.kind,
          lane: before.lane,
          partitionKey: before.partition_key,
          payload: JSON.parse(before.payload),
          attempts: before.attempts + 1,
          maxAttempts: before.max_attempts,
          runAt: before.run_at,
          createdAt: before.created_at,
        });
      }

      // New work continues above the copied ids.
      await store.enqueueJobs([{ tenantId: T, kind: 'fresh', lane: 'normal', payload: { n: 1 } }]);
      const [fresh] = await claimEverything(store);
      expect(fresh?.kind).toBe('fresh');
      expect(fresh!.id).toBeGreaterThan(maxCopiedId);
    } finally {
      await store.close();
    }
  });

  it('finishes an interrupted copy when run again, then does nothing', async () => {
    const url = await freshDatabaseUrl();
    const sourceCounts = countRows(file);
    await expect(
      copySqliteToPostgres({
        sourceFile: file,
        targetUrl: url,
        batchRows: 2,
        onProgress: (p) => {
          if (p.table === 'messages' && p.sent >= 4) throw new Error('power cut');
        },
      }),
    ).rejects.toThrow('power cut');
    const partial = await countPostgresRows(url);
    expect(partial.messages).toBe(4);
    // Jobs come before events (a fallback job counts in its event's open parts): copied already.
    expect(partial.jobs).toBe(sourceCounts.jobs);
    expect(partial.sandbox_captures).toBe(0);

    const lines: string[] = [];
    const resumed = await copySqliteToPostgres({
      sourceFile: file,
      targetUrl: url,
      batchRows: 2,
      log: (line) => lines.push(line),
    });
    expect(resumed).toMatchObject({ alreadyCopied: false, resumed: true, secret: 'same' });
    expect(resumed.tables.find((t) => t.table === 'messages')).toMatchObject({
      sent: sourceCounts.messages,
      inserted: sourceCounts.messages! - 4,
    });
    expect(lines).toContain(`messages: ${sourceCounts.messages}/${sourceCounts.messages} (4 already there)`);
    const complete = await countPostgresRows(url);
    expect(complete).toEqual({
      ...sourceCounts,
      settings: sourceCounts.settings! + 1,
      inbox_cursors: subscribersWithInboxLogs(file),
    });

    const again = await copySqliteToPostgres({ sourceFile: file, targetUrl: url });
    expect(again.alreadyCopied).toBe(true);
    expect(await countPostgresRows(url)).toEqual(complete);
    const marker = await withPostgres(url, async (client) => {
      const { rows } = await client.query('SELECT value FROM settings WHERE key = $1', [MARKER_KEY]);
      return JSON.parse(rows[0].value);
    });
    expect(marker).toMatchObject({ source: file, finishedAt: expect.any(Number) });

    const store = await openPostgresStore({ url });
    try {
      await store.enqueueJobs([{ tenantId: T, kind: 'fresh', lane: 'normal', payload: null }]);
      const ids = await withPostgres(url, async (client) => {
        const { rows } = await client.query<{ id: string; kind: string }>('SELECT id, kind FROM jobs');
        return rows.map((r) => ({ id: Number(r.id), kind: r.kind }));
      });
      const copiedMax = Math.max(...ids.filter((r) => r.kind !== 'fresh').map((r) => r.id));
      expect(ids.find((r) => r.kind === 'fresh')!.id).toBeGreaterThan(copiedMax);
    } finally {
      await store.close();
    }
  });

  it('refuses to copy while another copy into the same database holds its lock, and writes nothing', async () => {
    const url = await freshDatabaseUrl();
    await withPostgres(url, async (other) => {
      await other.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCKS.transfer]);
      await expect(copySqliteToPostgres({ sourceFile: file, targetUrl: url })).rejects.toThrow(
        /another `tidings migrate --from` is copying/,
      );
    });
    expect((await countPostgresRows(url)).tenants).toBe(0);
  });

  it('refuses a target that already holds another installation, and writes nothing', async () => {
    const url = await freshDatabaseUrl();
    const other = await openPostgresStore({ url });
    await other.settingOnce('master_secret', 'a-different-secret');
    await other.ensureTenant('default', 'Default');
    await other.close();
    const secretClash = copySqliteToPostgres({ sourceFile: file, targetUrl: url });
    await expect(secretClash).rejects.toBeInstanceOf(TransferRefused);
    await expect(secretClash).rejects.toThrow(/different master secret/);

    const noSecret = await freshDatabaseUrl();
    const used = await openPostgresStore({ url: noSecret });
    await used.ensureTenant('default', 'Default');
    await used.close();
    await expect(copySqliteToPostgres({ sourceFile: file, targetUrl: noSecret })).rejects.toThrow(
      /already holds a Tidings installation/,
    );
    for (const target of [url, noSecret]) {
      const counts = await countPostgresRows(target);
      expect(counts.tenants).toBe(1);
      expect(counts.messages).toBe(0);
    }
  });

  it("replaces a target's master secret when no data depends on it yet", async () => {
    const url = await freshDatabaseUrl();
    const unused = await openPostgresStore({ url });
    await unused.settingOnce('master_secret', 'generated-but-never-used');
    // A start makes a personal data key; it seals nothing yet, and the copied rows need the source's.
    await unused.settingOnce(PERSONAL_DATA_KEY_SETTING, 'made-by-a-start-never-used');
    await unused.close();
    const report = await copySqliteToPostgres({ sourceFile: file, targetUrl: url });
    expect(report.secret).toBe('replaced');
    const store = await openPostgresStore({ url });
    expect(await store.settingOnce('master_secret', 'x')).toBe(SECRET);
    expect(await store.getSetting(PERSONAL_DATA_KEY_SETTING)).toBe(
      (await sqlite.getSetting(PERSONAL_DATA_KEY_SETTING)) ?? null,
    );
    await store.close();
  });

  it('refuses a missing file and a file that is not a Tidings database', async () => {
    const url = await freshDatabaseUrl();
    await expect(
      copySqliteToPostgres({ sourceFile: path.join(dir, 'nope.db'), targetUrl: url }),
    ).rejects.toThrow(/does not exist/);
    const stranger = path.join(dir, 'stranger.db');
    const db = new Database(stranger);
    db.exec('CREATE TABLE notes (body TEXT)');
    db.close();
    await expect(copySqliteToPostgres({ sourceFile: stranger, targetUrl: url })).rejects.toThrow(
      /not a Tidings database/,
    );
    const junk = path.join(dir, 'junk.db');
    writeFileSync(junk, 'not a database, just text that is long enough to be read as a header '.repeat(4));
    await expect(copySqliteToPostgres({ sourceFile: junk, targetUrl: url })).rejects.toThrow(
      /cannot read .* as a SQLite database/,
    );
    await expect(
      copySqliteToPostgres({ sourceFile: file, targetUrl: 'sqlite:./x.db' }),
    ).rejects.toBeInstanceOf(TransferRefused);
  });

  it('runs as `tidings migrate --from sqlite:PATH` from the command line', { timeout: 120_000 }, async () => {
    const url = await freshDatabaseUrl();
    const sourceCounts = countRows(file);
    const target = { TIDINGS_DATABASE_URL: url };
    const from = ['migrate', '--from', `sqlite:${file}`];
    // Each child pays tsx's start-up, so the independent runs go side by side.
    const [[result, again], missing, notPostgres, badFrom] = await Promise.all([
      runCli(from, target, 60_000).then(async (first) => [first, await runCli(from, target, 60_000)]),
      runCli(['migrate', '--from', `sqlite:${path.join(dir, 'missing.db')}`], target, 60_000),
      runCli(from, sqliteEnv(tempDataDir()), 60_000),
      runCli(['migrate', '--from', 'mysql://x'], target, 60_000),
    ]);

    expect(result!.code, result!.stderr).toBe(0);
    expect(result!.stderr).toContain(`messages: ${sourceCounts.messages}/${sourceCounts.messages}`);
    expect(result!.stderr).toContain(`jobs: ${sourceCounts.jobs}/${sourceCounts.jobs}`);
    expect(result!.stdout).toMatch(/^copied \d+ rows from .*tidings\.db into PostgreSQL/);
    expect(result!.stdout + result!.stderr).not.toContain(SECRET);

    expect(again!.code, again!.stderr).toBe(0);
    expect(again!.stdout).toContain('already copied: nothing to do');

    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('does not exist');
    expect(notPostgres.code).toBe(2);
    expect(notPostgres.stderr).toMatch(/copies into PostgreSQL/);
    expect(badFrom.code).toBe(2);
    expect(badFrom.stderr).toContain('usage: tidings migrate --from sqlite:PATH');
  });
});
