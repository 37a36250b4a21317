import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  callJson,
  cleanupChildren,
  freePort,
  type RunningChild,
  runCli,
  spawnTidings,
  sqliteEnv,
  startChild,
  tempDataDir,
} from '../helpers/child.ts';
import { databaseEnv, STORE_UNDER_TEST } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

const KEY_PATTERN = /tdk_[A-Za-z0-9_-]{32}/g;
// What only parses arguments (--help, a bad setting, an unknown command) never reaches a store:
// SQLite only. Everything that starts a server or writes a database runs on both.
const ON_SQLITE = STORE_UNDER_TEST === 'sqlite';

/** Waits for the start banner (written just after the port opens) and answers it. */
async function bannerOf(child: RunningChild): Promise<string> {
  await waitFor(() => child.stdout().includes('/v1/sandbox/messages'), 'the start banner', 45_000);
  return child.stdout();
}

/** Runs shell lines (as a user pastes them) with bash, answering stdout. */
function bash(lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', lines.join('\n')], { timeout: 10_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

/** The banner's copy-paste lines under `heading`, up to the next heading (a line without indent). */
function bannerLines(banner: string, heading: string): string[] {
  const lines = banner.split('\n');
  const start = lines.findIndex((line) => line.startsWith(heading));
  expect(start, heading).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((line, i) => i > start && !line.startsWith('  '));
  return lines.slice(start + 1, end === -1 ? undefined : end).filter((line) => !line.startsWith('  #'));
}

/** SIGTERM, and the exit code once the child is gone. */
async function stop(child: RunningChild): Promise<number | null> {
  child.kill('SIGTERM');
  return child.exited;
}

describe('tidings CLI', () => {
  afterEach(cleanupChildren);

  it('generates, prints and saves a key on first start, and keeps it on the next start; TIDINGS_API_KEY then replaces it and is never printed', async () => {
    const dataDir = tempDataDir();
    const dbEnv = await databaseEnv(dataDir);
    const first = await startChild(dbEnv);
    const banner = await bannerOf(first);

    expect(banner).toContain(`Tidings is running at ${first.url}`);
    const keys = [...new Set(banner.match(KEY_PATTERN))];
    expect(keys).toHaveLength(1);
    const key = keys[0]!;
    expect(banner).toContain(`Your API key`);
    expect(banner).toContain(`export TIDINGS_URL=${first.url}`);
    expect(banner).toContain(`export TIDINGS_API_KEY=${key}`);
    expect(banner).toContain(
      'curl -s -X POST "$TIDINGS_URL/v1/events" -H "Authorization: Bearer $TIDINGS_API_KEY"',
    );
    expect(banner).toContain('Ctrl-C');
    expect(banner).toMatch(/Docs: \/\S+\/docs\/README\.md/);
    expect(existsSync(banner.match(/Docs: (\S+README\.md)/)![1]!)).toBe(true);

    expect((await callJson(`${first.url}/v1/workflows`, 'GET', key)).status).toBe(200);
    expect((await callJson(`${first.url}/v1/workflows`, 'GET', 'tdk_not_the_key_0123456789')).status).toBe(
      401,
    );

    const keyFile = path.join(dataDir, 'api-key');
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(key);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(await stop(first)).toBe(0);

    const second = await startChild(dbEnv);
    const again = await bannerOf(second);
    expect(again).not.toContain('Your API key');
    // Printed once: later banners point at the key file rather than reading the key back out.
    expect(again.match(KEY_PATTERN)).toBeNull();
    expect(again).toContain(`export TIDINGS_API_KEY=$(cat ${keyFile})`);
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(key);
    expect((await callJson(`${second.url}/v1/workflows`, 'GET', key)).status).toBe(200);
    expect(await stop(second)).toBe(0);

    // The same installation started with a key of the operator's choosing: the generated one is dead.
    const chosen = 'my_own_key_0123456789abcdef';
    const third = await startChild({ ...dbEnv, TIDINGS_API_KEY: chosen });
    const replaced = await bannerOf(third);
    expect((await callJson(`${third.url}/v1/workflows`, 'GET', key)).status).toBe(401);
    expect((await callJson(`${third.url}/v1/workflows`, 'GET', chosen)).status).toBe(200);
    expect(replaced).not.toContain(chosen);
    // The curl in the banner must not carry the replaced (now dead) generated key.
    expect(replaced).not.toContain(key);
    expect(replaced).toContain('Bearer $TIDINGS_API_KEY');
    // Nor does the file that kept it: `$(cat data/api-key)` cannot hand out a dead key.
    expect(existsSync(keyFile)).toBe(false);
  }, 120_000);

  it.runIf(ON_SQLITE)('--help points at the docs in the installation, which exist', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    const docs = help.stdout.match(/(\S+\/docs)\/README\.md/);
    expect(docs, help.stdout).not.toBeNull();
    expect(existsSync(`${docs![1]}/README.md`)).toBe(true);
    expect(existsSync(`${docs![1]}/operations.md`)).toBe(true);
    expect(help.stdout).not.toMatch(/see API\.md/);
  });

  it.runIf(ON_SQLITE)('migrate applies migrations to a fresh database and exits 0', async () => {
    const dataDir = tempDataDir();
    const result = await runCli(['migrate'], sqliteEnv(dataDir));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('migrations applied');
    expect(existsSync(path.join(dataDir, 'tidings.db'))).toBe(true);
    // Running it again is a no-op.
    expect((await runCli(['migrate'], sqliteEnv(dataDir))).code).toBe(0);
    // It made the demo workflow, so a `tidings worker` started next has it without a `start`.
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path.join(dataDir, 'tidings.db'), { readonly: true });
    const demo = db.prepare("select count(*) as n from workflows where key = 'welcome'").get() as {
      n: number;
    };
    db.close();
    expect(demo.n).toBeGreaterThan(0);
  });

  it.runIf(ON_SQLITE)('a bad setting or an unknown command exits 2 and says why', async () => {
    const dataDir = tempDataDir();
    const dbEnv = await databaseEnv(dataDir);
    const badPort = await runCli(['start'], { ...dbEnv, TIDINGS_PORT: 'abc' });
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain('TIDINGS_PORT');
    expect(badPort.stderr).toMatch(/whole number/);

    const unknown = await runCli(['frobnicate'], dbEnv);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('frobnicate');
    expect(unknown.stderr).toContain('usage: tidings');
  });

  it('runs api and worker as separate processes on one database; a worker opens a port only when asked', async () => {
    const dir = tempDataDir();
    const key = 'tdk_split_roles_key_0123456789';
    const env = { ...(await databaseEnv(dir)), TIDINGS_API_KEY: key };
    const api = await startChild(env, { args: ['api'] });
    const worker = await startChild(env, { args: ['worker'], portVariable: 'TIDINGS_WORKER_PORT' });
    // `api` prints the banner too, and its demo workflow exists, so the banner's curl works.
    expect(await bannerOf(api)).toContain(`export TIDINGS_URL=${api.url}`);
    const demo = await callJson(`${api.url}/v1/events`, 'POST', key, {
      workflow: 'welcome',
      to: [{ subscriberId: 'ada', email: 'ada@example.com' }],
      data: { name: 'Ada' },
    });
    expect(demo.status).toBe(202);
    expect((await callJson(`${worker.url}/healthz`, 'GET', null)).status).toBe(200);
    const metrics = await fetch(`${worker.url}/metrics`);
    expect(await metrics.text()).toContain('tidings_');
    // The worker serves operations only: the API is not there.
    expect((await callJson(`${worker.url}/v1/workflows`, 'GET', key)).status).toBe(404);

    const workflow = {
      channels: [{ channel: 'in_app', template: { title: 'Split {{ data.n }}', body: 'b' } }],
    };
    expect((await callJson(`${api.url}/v1/workflows/split`, 'PUT', key, workflow)).status).toBe(200);
    const event = await callJson(`${api.url}/v1/events`, 'POST', key, {
      workflow: 'split',
      to: ['sam'],
      data: { n: 1 },
    });
    expect(event.status).toBe(202);
    const done = await waitFor(
      async () => {
        const res = await callJson(`${api.url}/v1/events/${event.body.eventId}`, 'GET', key);
        return res.body.status === 'completed' ? res.body : null;
      },
      'the worker process to deliver',
      10_000,
    );
    expect(done.messages).toMatchObject([{ subscriberId: 'sam', channel: 'in_app', status: 'delivered' }]);

    // Without TIDINGS_WORKER_PORT a worker listens nowhere, not even on TIDINGS_PORT.
    const quietPort = String(await freePort());
    const quiet = spawnTidings(['worker'], { ...env, TIDINGS_PORT: quietPort });
    await waitFor(() => quiet.stdout().includes('worker started'), 'the quiet worker to start', 10_000);
    await expect(fetch(`http://127.0.0.1:${quietPort}/healthz`)).rejects.toThrow();
  });
});

describe('TIDINGS_DATA_DIR', () => {
  afterEach(cleanupChildren);

  // API.md: "created if missing". With the key and the secret given and the database elsewhere, a
  // start has nothing to write there yet; the folder was still not made (found by the audit).
  it('is created at start (private) when missing, even with nothing to write there yet', async () => {
    const dataDir = path.join(tempDataDir(), 'not', 'yet');
    const env = {
      ...(await databaseEnv(tempDataDir())),
      ...(ON_SQLITE ? { TIDINGS_DATABASE_URL: 'sqlite::memory:' } : {}),
      TIDINGS_DATA_DIR: dataDir,
      TIDINGS_API_KEY: 'tdk_data_dir_key_0123456789',
      TIDINGS_SECRET: 'a-master-secret-for-the-data-dir-test-0123',
    };
    const child = await startChild(env);
    expect(existsSync(dataDir)).toBe(true);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    child.kill('SIGTERM');
    await child.exited;
  });
});

// One `tidings start` on a fresh data directory (generated key) serves these tests: each asks
// something different of a running server, none needs one of its own.
describe('a tidings start', () => {
  let child: RunningChild;
  let env: Record<string, string>;
  let banner: string;

  beforeAll(async () => {
    env = await databaseEnv(tempDataDir());
    child = await startChild(env);
    banner = await bannerOf(child);
  }, 60_000);
  afterAll(cleanupChildren);

  // How fast is the bench's to tell (`npm run bench`: spawn → healthy, limit 10 s), not a test's
  // on a machine shared with other test files.
  it('becomes healthy (spawned on a fresh data directory)', async () => {
    const health = await callJson(`${child.url}/healthz`, 'GET', null);
    expect(health.status).toBe(200);
  });

  it("the banner's commands, pasted into a shell, trigger the demo and show its email and inbox item", async () => {
    const setup = bannerLines(banner, 'Set up your shell:');
    const accepted = JSON.parse(
      await bash([...setup, ...bannerLines(banner, 'Trigger a demo notification')]),
    );
    expect(accepted).toMatchObject({ status: 'accepted', eventId: expect.any(String) });
    const inbox = bannerLines(banner, "See ada's in-app inbox");
    const items = await waitFor(
      async () => {
        const page = JSON.parse(await bash([...setup, ...inbox]));
        return page.items?.length > 0 ? page.items : null;
      },
      "the demo's inbox item",
      20_000,
    );
    expect(items[0].title).toBe('Welcome, Ada!');
    const sandbox = await waitFor(
      async () => {
        const page = JSON.parse(await bash([...setup, ...bannerLines(banner, 'See the email')]));
        return page.items?.length > 0 ? page.items : null;
      },
      "the demo's email in the sandbox",
      20_000,
    );
    expect(sandbox[0]).toMatchObject({ channel: 'email', to: 'ada@example.com' });
  }, 60_000);

  it('tenant create prints a working key that only sees its own tenant', async () => {
    const defaultKey = readFileSync(path.join(env.TIDINGS_DATA_DIR!, 'api-key'), 'utf8').trim();

    const put = await callJson(`${child.url}/v1/workflows/w`, 'PUT', defaultKey, {
      channels: [{ channel: 'in_app', template: { title: 'Hi {{ data.n }}', body: 'b' } }],
    });
    expect(put.status).toBe(200);
    const event = await callJson(`${child.url}/v1/events`, 'POST', defaultKey, {
      workflow: 'w',
      to: ['user_1'],
      data: { n: 1 },
    });
    expect(event.status).toBe(202);
    const eventId: string = event.body.eventId;

    // Run against the same database while the server is up: the new key works without a restart.
    const created = await runCli(['tenant', 'create', 'Acme Corp'], env);
    expect(created.code, created.stderr).toBe(0);
    const lines = created.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const tenant = JSON.parse(lines[0]!);
    expect(tenant).toEqual({
      tenantId: expect.any(String),
      name: 'Acme Corp',
      apiKey: expect.any(String),
      keyId: expect.any(String),
    });
    const listed = await runCli(['key', 'list', '--tenant', tenant.tenantId], env);
    expect(listed.stdout).toContain(tenant.keyId);
    expect(tenant.tenantId).not.toBe('default');

    expect((await callJson(`${child.url}/v1/workflows`, 'GET', tenant.apiKey)).status).toBe(200);
    const theirs = await callJson(`${child.url}/v1/workflows`, 'GET', tenant.apiKey);
    expect(theirs.body.items.map((w: { key: string }) => w.key)).not.toContain('w');
    expect((await callJson(`${child.url}/v1/events/${eventId}`, 'GET', tenant.apiKey)).status).toBe(404);
    expect((await callJson(`${child.url}/v1/events/${eventId}`, 'GET', defaultKey)).status).toBe(200);

    // Usage errors, which write nothing: run side by side (each is a process start).
    const [usage, reversed, label, blank, blankLabel] = await Promise.all([
      runCli(['tenant', 'create'], env),
      // The API's rule for names and labels holds here too: no bidi formatting characters.
      runCli(['tenant', 'create', '\u202e evil'], env),
      runCli(['key', 'create', '--tenant', tenant.tenantId, '--label', 'ops\u200f1'], env),
      // And a blank one (only spaces, or characters that show as nothing) is no name at all.
      runCli(['tenant', 'create', ' \u3000 '], env),
      runCli(['key', 'create', '--tenant', tenant.tenantId, '--label', '\u200b'], env),
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('tenant create NAME');
    expect(reversed.code).toBe(2);
    expect(reversed.stderr).toContain('NAME must not contain control or bidi formatting characters');
    expect(label.code).toBe(2);
    expect(label.stderr).toContain('--label must not contain');
    expect(blank.code).toBe(2);
    expect(blank.stderr).toContain('NAME must not be blank');
    expect(blankLabel.code).toBe(2);
    expect(blankLabel.stderr).toContain('--label must not be blank');
  });

  // Last: it stops the server the tests above share.
  it('SIGTERM stops a running start cleanly (exit 0) within a few seconds', async () => {
    const sentAt = Date.now();
    const code = await stop(child);
    const tookMs = Date.now() - sentAt;
    expect(code).toBe(0);
    expect(child.proc.signalCode).toBeNull();
    expect(tookMs).toBeLessThan(5_000);
  });
});
