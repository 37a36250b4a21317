import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.ts';
import { callJson, cleanupChildren, runCli, startChild, tempDataDir } from '../helpers/child.ts';
import { withPostgres } from '../helpers/pg-client.ts';
import { databaseEnv, STORE_UNDER_TEST } from '../helpers/store-under-test.ts';

const KEY = 'tdk_secrets_test_key_0123456789';
const SMTP_PASSWORD = 'smtp-password-that-must-never-be-on-disk-in-clear';
const SECRET_A = 'the-first-master-secret-0123456789abcdef';
const SECRET_B = 'the-second-master-secret-0123456789abcdef';
const ON_SQLITE = STORE_UNDER_TEST === 'sqlite';

let smtp: FakeSmtp | null = null;
afterEach(async () => {
  await cleanupChildren();
  await smtp?.close();
  smtp = null;
});

/** The environment every start in these tests shares: the fake SMTP server on 127.0.0.1 is allowed. */
function baseEnv(database: Record<string, string>): Record<string, string> {
  return { ...database, TIDINGS_API_KEY: KEY, TIDINGS_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32' };
}

/** An SMTP integration with a password (sealed at rest) and a workflow that emails. */
async function configureEmail(url: string, key: string, server: FakeSmtp): Promise<void> {
  const integration = await callJson(`${url}/v1/integrations/relay`, 'PUT', key, {
    channel: 'email',
    provider: 'smtp',
    // insecure: the fake speaks plain SMTP, and AUTH without TLS must be asked for.
    config: { host: server.host, port: server.port, from: 'Tidings <noreply@tidings.test>', insecure: true },
    credentials: { user: 'relay-user', pass: SMTP_PASSWORD },
  });
  expect(integration.status, JSON.stringify(integration.body)).toBe(200);
  const workflow = await callJson(`${url}/v1/workflows/mail`, 'PUT', key, {
    name: 'Mail',
    channels: [{ channel: 'email', template: { subject: 'Hello {{ data.n }}', html: '<p>hi</p>' } }],
  });
  expect(workflow.status).toBe(200);
}

/** Sends one email through the stored integration and waits for the fake to receive it, authenticated. */
async function sendsEmail(url: string, key: string, server: FakeSmtp, n: number): Promise<void> {
  const event = await callJson(`${url}/v1/events`, 'POST', key, {
    workflow: 'mail',
    to: [{ subscriberId: `reader_${n}`, email: `reader${n}@example.test` }],
    data: { n },
  });
  expect(event.status).toBe(202);
  const received = await server.waitFor(n, 15_000);
  expect(received[n - 1]!.header('subject')).toBe(`Hello ${n}`);
  expect(received[n - 1]!.user).toBe('relay-user');
}

async function stop(child: { kill(signal?: NodeJS.Signals): void; exited: Promise<number | null> }) {
  child.kill('SIGTERM');
  expect(await child.exited).toBe(0);
}

/** The v1 format earlier versions sealed with: `v1.<iv>.<tag>.<ciphertext>`, no key id. */
function sealV1(masterSecret: string, value: unknown): string {
  const key = Buffer.from(hkdfSync('sha256', masterSecret, 'tidings', 'credentials', 32));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), body]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

describe('6. secrets at rest', () => {
  it.runIf(ON_SQLITE)(
    'keeps the generated master secret in a 0600 file of its own: every file under the data dir is 0600, its folder 0700, and the database bytes hold neither the secret nor an SMTP password',
    async () => {
      // A folder Tidings has to create itself.
      const dataDir = path.join(tempDataDir(), 'fresh', 'data');
      const db = path.join(dataDir, 'tidings.db');
      smtp = await startFakeSmtp();
      const env = {
        TIDINGS_DATABASE_URL: `sqlite:${db}`,
        TIDINGS_DATA_DIR: dataDir,
        TIDINGS_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32',
      };
      const child = await startChild(env);
      const key = readFileSync(path.join(dataDir, 'api-key'), 'utf8').trim();
      await configureEmail(child.url, key, smtp);
      await sendsEmail(child.url, key, smtp, 1);

      const secretFile = path.join(dataDir, 'master-secret');
      const secret = readFileSync(secretFile, 'utf8').trim();
      expect(secret.length).toBeGreaterThanOrEqual(32);
      for (const file of [db, `${db}-wal`, `${db}-shm`, path.join(dataDir, 'api-key'), secretFile]) {
        expect(existsSync(file), file).toBe(true);
        expect(mode(file), file).toBe(0o600);
      }
      expect(mode(dataDir)).toBe(0o700);

      // While running (WAL not yet folded in) and after a clean stop (all in the main file).
      const holdsNoSecret = () => {
        const bytes = Buffer.concat([
          readFileSync(db),
          existsSync(`${db}-wal`) ? readFileSync(`${db}-wal`) : Buffer.alloc(0),
        ]);
        expect(bytes.includes(SMTP_PASSWORD)).toBe(false);
        expect(bytes.includes(secret)).toBe(false);
      };
      holdsNoSecret();
      await stop(child);
      holdsNoSecret();
      const reader = new Database(db, { readonly: true });
      try {
        expect(
          reader.prepare("SELECT count(*) FROM settings WHERE key = 'master_secret'").pluck().get(),
        ).toBe(0);
      } finally {
        reader.close();
      }

      // The next start uses the same secret: the stored password still opens and sends.
      const again = await startChild(env);
      await sendsEmail(again.url, key, smtp, 2);
      expect(readFileSync(secretFile, 'utf8').trim()).toBe(secret);
    },
    // Two starts and two deliveries: more than the default 30 s on a busy machine.
    90_000,
  );

  it.runIf(ON_SQLITE)(
    'moves the secret an earlier version kept in the database into the file, makes its 0644 files private, and its v1 credentials still send',
    async () => {
      const dataDir = tempDataDir();
      const db = path.join(dataDir, 'tidings.db');
      const env = baseEnv({ TIDINGS_DATABASE_URL: `sqlite:${db}`, TIDINGS_DATA_DIR: dataDir });
      expect((await runCli(['migrate'], env)).code).toBe(0);
      smtp = await startFakeSmtp();
      const legacySecret = 'a-secret-generated-by-an-earlier-version';
      // What an earlier version left behind: the secret in settings, credentials sealed v1, files 0644.
      const writer = new Database(db);
      writer.prepare("INSERT INTO settings (key, value) VALUES ('master_secret', ?)").run(legacySecret);
      // `migrate` made the default tenant already (it seeds the demo workflow).
      writer
        .prepare("INSERT OR IGNORE INTO tenants (id, name, created_at) VALUES ('default', 'Default', 0)")
        .run();
      writer
        .prepare(
          `INSERT INTO integrations (tenant_id, id, channel, provider, priority, config, credentials, enabled, created_at, updated_at)
           VALUES ('default', 'relay', 'email', 'smtp', 1, ?, ?, 1, 0, 0)`,
        )
        .run(
          JSON.stringify({
            host: smtp.host,
            port: smtp.port,
            from: 'Tidings <noreply@tidings.test>',
            insecure: true,
          }),
          sealV1(legacySecret, { user: 'relay-user', pass: SMTP_PASSWORD }),
        );
      writer.close();
      chmodSync(db, 0o644);

      const child = await startChild(env);
      expect(readFileSync(path.join(dataDir, 'master-secret'), 'utf8').trim()).toBe(legacySecret);
      expect(mode(db)).toBe(0o600);
      await callJson(`${child.url}/v1/workflows/mail`, 'PUT', KEY, {
        name: 'Mail',
        channels: [{ channel: 'email', template: { subject: 'Hello {{ data.n }}', html: '<p>hi</p>' } }],
      });
      await sendsEmail(child.url, KEY, smtp, 1);
      await stop(child);

      const reader = new Database(db, { readonly: true });
      try {
        expect(
          reader.prepare("SELECT count(*) FROM settings WHERE key = 'master_secret'").pluck().get(),
        ).toBe(0);
        // Re-sealed in the format that names its key.
        expect(
          reader.prepare("SELECT credentials FROM integrations WHERE id = 'relay'").pluck().get(),
        ).toMatch(/^v2\./);
      } finally {
        reader.close();
      }
    },
    // A migrate, a start and a delivery: more than the default 30 s on a busy machine.
    90_000,
  );

  // One installation through a rotation: a wrong secret is refused and changes nothing, then a
  // new secret takes over with the old one as TIDINGS_SECRET_PREVIOUS.
  it('a start with a TIDINGS_SECRET that cannot open the stored credentials exits non-zero naming TIDINGS_SECRET; TIDINGS_SECRET_PREVIOUS lets a new secret take over: credentials are re-sealed at start and still send, then without the previous one too', async () => {
    const env = baseEnv(await databaseEnv(tempDataDir()));
    smtp = await startFakeSmtp();
    const first = await startChild({ ...env, TIDINGS_SECRET: SECRET_A });
    await configureEmail(first.url, KEY, smtp);
    await stop(first);

    const wrong = await runCli(['start'], { ...env, TIDINGS_SECRET: SECRET_B, TIDINGS_PORT: '0' }, 15_000);
    expect(wrong.code, wrong.stdout + wrong.stderr).not.toBe(0);
    expect(wrong.code).not.toBeNull();
    expect(wrong.stderr).toMatch(/TIDINGS_SECRET/);
    expect(wrong.stderr).toMatch(/TIDINGS_SECRET_PREVIOUS/);
    expect(wrong.stdout + wrong.stderr).not.toContain(SECRET_B);

    // Nothing was changed by the refused start: the right secret still sends.
    const right = await startChild({ ...env, TIDINGS_SECRET: SECRET_A });
    await sendsEmail(right.url, KEY, smtp, 1);
    await stop(right);

    const rotating = await startChild({
      ...env,
      TIDINGS_SECRET: SECRET_B,
      TIDINGS_SECRET_PREVIOUS: SECRET_A,
    });
    await sendsEmail(rotating.url, KEY, smtp, 2);
    await stop(rotating);

    const rotated = await startChild({ ...env, TIDINGS_SECRET: SECRET_B });
    await sendsEmail(rotated.url, KEY, smtp, 3);
    await stop(rotated);

    // The old secret no longer opens anything.
    const old = await runCli(['start'], { ...env, TIDINGS_SECRET: SECRET_A, TIDINGS_PORT: '0' }, 15_000);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toMatch(/TIDINGS_SECRET/);
  }, 150_000);

  // Found by the acceptance audit: after a rotation every unsubscribe link of every email already
  // sent answered 404, and its preference and tracked links failed too.
  it('links in emails sent before a rotation (one-click unsubscribe, preference page, tracked click) keep working while TIDINGS_SECRET_PREVIOUS names the secret they were signed with', async () => {
    const env = baseEnv(await databaseEnv(tempDataDir()));
    const first = await startChild({ ...env, TIDINGS_SECRET: SECRET_A });
    const workflow = await callJson(`${first.url}/v1/workflows/news`, 'PUT', KEY, {
      category: 'news',
      tracking: { clicks: true },
      channels: [
        {
          channel: 'email',
          template: {
            subject: 'News',
            html: '<a href="https://example.com/read">read</a> <a href="{{ links.preferences }}">preferences</a> <a href="{{ links.unsubscribe }}">unsubscribe</a>',
          },
        },
      ],
    });
    expect(workflow.status, JSON.stringify(workflow.body)).toBe(200);
    const event = await callJson(`${first.url}/v1/events`, 'POST', KEY, {
      workflow: 'news',
      to: [{ subscriberId: 'reader', email: 'reader@example.test' }],
    });
    expect(event.status).toBe(202);
    let html = '';
    for (let i = 0; i < 100 && !html; i++) {
      const captures = await callJson(`${first.url}/v1/sandbox/messages`, 'GET', KEY);
      html = captures.body.items?.[0]?.content?.html ?? '';
      if (!html) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await stop(first);
    // The links' paths (their origin is the first start's port).
    const link = (pattern: RegExp) => {
      const href = html.match(pattern)?.[1];
      expect(href, html).toBeDefined();
      const url = new URL(href!.replaceAll('&amp;', '&'));
      return url.pathname + url.search;
    };
    const unsubscribe = link(/href="([^"]*\/v1\/unsubscribe\/[^"]+)"/);
    const preferences = link(/href="([^"]*\/v1\/preferences-page\?token=[^"]+)"/);
    const click = link(/href="([^"]*\/v1\/t\/c\/[^"]+)"/);

    const rotating = await startChild({
      ...env,
      TIDINGS_SECRET: SECRET_B,
      TIDINGS_SECRET_PREVIOUS: SECRET_A,
    });
    const get = (path: string) => fetch(`${rotating.url}${path}`, { redirect: 'manual' });
    expect((await get(unsubscribe)).status).toBe(200);
    // A browser opening it (text/html) sees the confirmation page, not the not-valid one.
    const opened = await fetch(`${rotating.url}${unsubscribe}`, { headers: { accept: 'text/html' } });
    expect(opened.status).toBe(200);
    expect(await opened.text()).not.toContain('not valid');
    expect((await get(preferences)).status).toBe(200);
    const clicked = await get(click);
    expect(clicked.status).toBe(302);
    expect(clicked.headers.get('location')).toBe('https://example.com/read');
    const oneClick = await fetch(`${rotating.url}${unsubscribe}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(oneClick.status).toBe(200);
    const choices = await callJson(`${rotating.url}/v1/subscribers/reader/preferences`, 'GET', KEY);
    expect(choices.body.categories).toEqual({ news: { email: false } });
    // A link signed with neither secret still opens nothing.
    expect((await get(unsubscribe.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')))).status).toBe(404);
    await stop(rotating);
  }, 120_000);

  it.runIf(!ON_SQLITE)('PostgreSQL without TIDINGS_SECRET refuses to start, saying so', async () => {
    const database = await databaseEnv(tempDataDir());
    // Each role refuses on its own: side by side (sharing the cores, so a longer limit each).
    const roles = ['start', 'api', 'worker'];
    const results = await Promise.all(
      roles.map((role) =>
        runCli([role], { ...baseEnv(database), TIDINGS_SECRET: undefined, TIDINGS_PORT: '0' }, 45_000),
      ),
    );
    for (const [i, result] of results.entries()) {
      expect(result.code, `${roles[i]}: ${result.stdout}${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/TIDINGS_SECRET is required on PostgreSQL/);
    }
    // And the database keeps no secret of its own.
    const keys = await withPostgres(database.TIDINGS_DATABASE_URL!, async (client) =>
      (await client.query<{ key: string }>('SELECT key FROM settings')).rows.map((row) => row.key),
    );
    expect(keys).not.toContain('master_secret');
  });
});
