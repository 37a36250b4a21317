import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SECRET_FILE_NAME } from '../src/security/master-secret.ts';
import { PersonalData } from '../src/security/personal-data.ts';
import { openDataKey, PERSONAL_DATA_KEY_SETTING } from '../src/security/personal-data-key.ts';
import { deriveKeys } from '../src/security/secrets.ts';
import { deviceAddressHash } from '../src/store/device-address.ts';
import { type ApnsFake, apnsKeyPair, startApnsFake } from '../test/fakes/apns.ts';
import type { Scenario, ScenarioContext } from './scenarios.ts';
import type { BenchServer } from './server.ts';
import { fmt, round, sleep } from './stats.ts';

/**
 * Push end to end (issue 11): one broadcast event to a topic whose every member has one APNs
 * device, sent through an `apns` integration to the APNs fake (test/fakes/apns.ts: HTTP/2 over
 * TLS on loopback, checking the ES256 provider token like Apple). The clock runs from the POST
 * until the fake has answered 200 to every device; the server trusts the fake's self-signed
 * certificate through NODE_EXTRA_CA_CERTS, as a production server trusts a private CA.
 *
 * Seeding is not measured: the topic is filled through the API, the devices are written straight
 * into the server's SQLite file (a few large transactions; a device PUT per device would take
 * minutes of fsyncs) with the same columns, sealed token and address hash the store writes (under the
 * server's personal data key, opened with its generated master secret).
 */

const APP = { teamId: 'TEAMBENCH01', keyId: 'KEYBENCH01', bundleId: 'com.tidings.bench' };
const TARGET_PUSHES_PER_SECOND = 10_000;
const TENANT = 'default';
/** Devices per seeding transaction. */
const SEED_SLICE = 5_000;

/** A distinct 32-byte hex token per member. */
const tokenFor = (i: number) => i.toString(16).padStart(64, '0');

/** The running server's personal data key, as it opened it at start. */
function serverPersonalData(server: BenchServer, db: Database.Database): PersonalData {
  const secret = readFileSync(path.join(path.dirname(server.dbFile), SECRET_FILE_NAME), 'utf8').trim();
  const sealed = db
    .prepare('SELECT value FROM settings WHERE key = ?')
    .pluck()
    .get(PERSONAL_DATA_KEY_SETTING) as string;
  return new PersonalData(openDataKey(deriveKeys(secret).credentialKeyring, sealed), false);
}

function seedDevices(server: BenchServer, members: number): void {
  const db = new Database(server.dbFile);
  try {
    db.pragma('busy_timeout = 10000');
    const insert = db.prepare(
      `INSERT INTO devices (tenant_id, subscriber_id, id, platform, token, subscription, address_hash, active,
         deactivated_at, reason, created_at, updated_at)
       VALUES (?, ?, 'phone', 'apns', ?, NULL, ?, 1, NULL, NULL, ?, ?)`,
    );
    const now = Date.now();
    const personal = serverPersonalData(server, db);
    // In slices: one transaction for all 100k held the write lock past the server's busy timeout,
    // and its idle worker logged `database is locked`.
    const slice = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const token = tokenFor(i);
        const hash = deviceAddressHash(personal, { platform: 'apns', token, subscription: null });
        insert.run(TENANT, `member_${i}`, personal.seal(token), hash, now, now);
      }
    });
    for (let from = 0; from < members; from += SEED_SLICE) slice(from, Math.min(members, from + SEED_SLICE));
  } finally {
    db.close();
  }
}

/** Push messages by status, from the server's file. */
function pushStatuses(server: BenchServer): Record<string, number> {
  const rows = server
    .db()
    .prepare(`SELECT status, COUNT(*) AS n FROM messages WHERE channel = 'push' GROUP BY status`)
    .all() as { status: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** Polls the fake until it answered 200 to `target` distinct apns-ids, or `timeoutMs` passes. */
async function waitForPushes(
  fake: ApnsFake,
  target: number,
  startedAt: number,
  timeoutMs: number,
  log: (message: string) => void,
): Promise<{ reached: boolean; count: number; elapsedMs: number }> {
  let lastLog = startedAt;
  for (;;) {
    const count = fake.acceptedByApnsId.size;
    const now = performance.now();
    if (count >= target) return { reached: true, count, elapsedMs: now - startedAt };
    if (now - startedAt > timeoutMs) return { reached: false, count, elapsedMs: now - startedAt };
    if (now - lastLog >= 1_000) {
      lastLog = now;
      log(`${fmt((now - startedAt) / 1000, 1)} s: ${fmt(count)} / ${fmt(target)} pushes answered 200`);
    }
    await sleep(20);
  }
}

async function measure(ctx: ScenarioContext, server: BenchServer, fake: ApnsFake, keyPem: string) {
  const members = ctx.options.quick ? 20_000 : 100_000;
  await server.api('PUT', '/v1/integrations/apns-bench', {
    channel: 'push',
    provider: 'apns',
    config: { ...APP, environment: 'production', endpoint: fake.url },
    credentials: { privateKey: keyPem },
  });
  await server.api('PUT', '/v1/workflows/push-bench', {
    channels: [
      {
        channel: 'push',
        template: { title: 'Deal {{ data.n }}', body: 'Today only', collapseId: 'deal', badge: '1' },
      },
    ],
  });
  const setupStart = performance.now();
  await server.createSubscribers(members, 'member_', 'all');
  seedDevices(server, members);
  ctx.log(
    `topic "all": ${fmt(members)} members with one APNs device each ` +
      `(seeded in ${fmt((performance.now() - setupStart) / 1000, 1)} s)`,
  );

  const sendStartEpoch = Date.now();
  const cpuBefore = server.cpuMs();
  const startedAt = performance.now();
  await server.api('POST', '/v1/events', { workflow: 'push-bench', to: [{ topic: 'all' }], data: { n: 1 } });
  const done = await waitForPushes(fake, members, startedAt, ctx.options.quick ? 60_000 : 120_000, ctx.log);
  const cpuAfter = server.cpuMs();
  const rate = done.count / (done.elapsedMs / 1000);
  // The server records `sent` after the fake's answer: give the last few a moment.
  const deadline = performance.now() + 10_000;
  while ((pushStatuses(server).sent ?? 0) < done.count && performance.now() < deadline) await sleep(50);
  const statuses = pushStatuses(server);
  const lastSent = server
    .db()
    .prepare(`SELECT MAX(updated_at) FROM messages WHERE channel = 'push' AND status = 'sent'`)
    .pluck()
    .get() as number | null;
  let duplicates = 0;
  for (const n of fake.acceptedByApnsId.values()) duplicates += n - 1;

  ctx.log(
    `${done.reached ? 'done' : 'TIMED OUT'}: ${fmt(done.count)} / ${fmt(members)} pushes answered 200 in ` +
      `${fmt(done.elapsedMs / 1000, 2)} s → ${fmt(rate)} pushes/s over ${fake.connections} connection(s), ` +
      `peak ${fmt(fake.peakStreams)} streams; messages by status ${JSON.stringify(statuses)}`,
  );
  ctx.row(
    'pushes (accepted → all APNs 200s)',
    rate,
    'pushes/s',
    { op: '>=', value: TARGET_PUSHES_PER_SECOND },
    done.reached ? undefined : 'timed out',
  );
  ctx.row('accepted → last 200', done.elapsedMs / 1000, 's');
  // Throughput moves 2× with a busy machine; the server's CPU per push moves far less.
  if (cpuBefore !== null && cpuAfter !== null && done.count > 0)
    ctx.row('server CPU per 1,000 pushes', ((cpuAfter - cpuBefore) / done.count) * 1000, 'ms');
  ctx.row('pushes answered 200 twice', duplicates, '', { op: '==', value: 0 });
  ctx.row('messages not sent', members - (statuses.sent ?? 0), '', { op: '==', value: 0 });
  ctx.row('APNs connections', fake.connections, '', { op: '<=', value: 4 });
  ctx.detail('result', {
    members,
    reached: done.reached,
    answered200: done.count,
    elapsedMs: round(done.elapsedMs, 1),
    pushesPerSecond: round(rate, 1),
    lastSentAfterMs: lastSent === null ? null : lastSent - sendStartEpoch,
    connections: fake.connections,
    peakStreams: fake.peakStreams,
    duplicates,
    pushByStatus: statuses,
    jobsAtEnd: server.jobCounts(),
  });
}

export const push: Scenario = {
  name: 'push',
  description:
    'one event to a topic of members with an APNs device each: POST → every push answered 200 by the APNs fake',
  async run(ctx) {
    const keys = apnsKeyPair();
    const fake = await startApnsFake({ ...APP, publicKey: keys.publicKey, keepRequests: false });
    const caDir = mkdtempSync(path.join(ctx.options.tmpRoot ?? tmpdir(), 'tidings-bench-push-ca-'));
    const caFile = path.join(caDir, 'apns-fake.pem');
    writeFileSync(caFile, fake.ca);
    try {
      await ctx.withServer('push', (server) => measure(ctx, server, fake, keys.privateKey), {
        NODE_EXTRA_CA_CERTS: caFile,
        TIDINGS_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32',
      });
    } finally {
      await fake.close();
      rmSync(caDir, { recursive: true, force: true });
    }
  },
};
