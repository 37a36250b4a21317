import { execFileSync } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOW_DISK_BYTES } from '../../src/cli/doctor.ts';
import { MESSAGE_STATUSES } from '../../src/shared/model.ts';
import {
  callJson,
  cleanupChildren,
  freePort,
  runCli,
  spawnTidings,
  startChild,
  tempDataDir,
} from '../helpers/child.ts';
import { withPostgres } from '../helpers/pg-client.ts';
import { databaseEnv, STORE_UNDER_TEST } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

// `tidings doctor`, `tidings send` and `tidings tail`, run as a user runs them: real processes
// against a real server and database of the store under test.

afterEach(cleanupChildren);

const KEY = 'tdk_cli_tools_key_0123456789';
const ESC = '\u001b[';
// These tests spawn several CLI processes beside a server: on a busy machine a start takes longer.
const SLOW_START = { healthyWithinMs: 30_000 };
// What only parses arguments or talks HTTP is the same whatever the server's store: those checks
// run on SQLite only. What opens the database itself (doctor, tail) runs on both.
const ON_SQLITE = STORE_UNDER_TEST === 'sqlite';
// CLI runs started side by side share the cores: each may take longer than runCli's default 20 s.
const SIDE_BY_SIDE_MS = 60_000;

/** Bytes an unprivileged process may still write on the file system holding `directory`. */
function freeBytes(directory: string): number {
  const fs = statfsSync(directory);
  return fs.bavail * fs.bsize;
}

/** The ✓/✗ lines of a doctor run, each as [mark, text]. */
function checks(stdout: string): [string, string][] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => [line.slice(0, 1), line.slice(2)]);
}

describe('tidings doctor', () => {
  it('is all ✓ on a migrated store, then checks each integration and the secret a start would use', async () => {
    const env = await databaseEnv(tempDataDir());
    expect((await runCli(['migrate'], env)).code).toBe(0);
    const fresh = await runCli(['doctor'], env);
    // SQLite: the free space where the database lives, as this machine has it now.
    const diskOk =
      !ON_SQLITE ||
      freeBytes(path.dirname(env.TIDINGS_DATABASE_URL!.slice('sqlite:'.length))) >= LOW_DISK_BYTES;
    expect(fresh.code, fresh.stdout + fresh.stderr).toBe(diskOk ? 0 : 1);
    const lines = checks(fresh.stdout);
    expect(
      lines.map(([mark, text]) => (text.startsWith('disk') ? mark === (diskOk ? '✓' : '✗') : mark === '✓')),
    ).toEqual(lines.map(() => true));
    expect(lines.map(([, text]) => text.split(':')[0])).toEqual([
      'configuration',
      'store',
      ...(ON_SQLITE ? ['disk'] : []),
      'migrations',
      'secret',
      'integrations',
      'clock',
    ]);
    // Output a program reads is plain: no colour codes when stdout is not a terminal.
    expect(fresh.stdout).not.toContain(ESC);

    const server = await startChild({ ...env, TIDINGS_API_KEY: KEY }, SLOW_START);
    const put = await callJson(`${server.url}/v1/integrations/sg`, 'PUT', KEY, {
      channel: 'email',
      provider: 'sendgrid',
      config: { from: 'noreply@example.com' },
      credentials: { apiKey: 'SG.not-a-real-key' },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    // Beside the running server; and with another secret, which cannot open what the first sealed.
    // Both only read: run side by side.
    const [after, wrong] = await Promise.all([
      runCli(['doctor'], { ...env, TIDINGS_API_KEY: KEY }, SIDE_BY_SIDE_MS),
      runCli(
        ['doctor'],
        { ...env, TIDINGS_SECRET: 'another-master-secret-0123456789abcdef' },
        SIDE_BY_SIDE_MS,
      ),
    ]);
    expect(after.code, after.stdout + after.stderr).toBe(0);
    expect(after.stdout).toContain('✓ integration default/sg (email, sendgrid): client builds');
    expect(after.stdout).toMatch(/✓ secret: from .*opens the stored values/);

    // The other secret: said, and exit 1.
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(
      /✗ secret: the secret from TIDINGS_SECRET does not open .*integration default\/sg/,
    );
    expect(wrong.stdout).toMatch(/^✓ clock/m);
  }, 120_000);

  it('says ✗ and exits 1 on an unmigrated store, without migrating it', async () => {
    const dataDir = tempDataDir();
    const env = await databaseEnv(dataDir);
    const result = await runCli(['doctor'], env);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    if (STORE_UNDER_TEST === 'sqlite') {
      expect(result.stdout).toContain('✗ store: not reachable: no database file at');
      expect(existsSync(path.join(dataDir, 'tidings.db'))).toBe(false);
    } else {
      expect(result.stdout).toContain('✓ store: reachable');
      expect(result.stdout).toMatch(/✗ migrations: \d+ pending \(001_initial\.sql, .*run tidings migrate/);
      const tables = await withPostgres(
        env.TIDINGS_DATABASE_URL!,
        async (client) =>
          (await client.query("SELECT to_regclass('schema_migrations') AS t, to_regclass('messages') AS m"))
            .rows[0],
      );
      expect(tables).toEqual({ t: null, m: null });
    }
  });

  // A small tmpfs as the data directory: mounting needs root (CI runs as root).
  it.runIf(ON_SQLITE && process.getuid?.() === 0)(
    'says ✗ disk and exits 1 when the database’s file system has less than 1 GiB free',
    async () => {
      const dataDir = tempDataDir();
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dataDir]);
      try {
        const env = await databaseEnv(dataDir);
        expect((await runCli(['migrate'], env)).code).toBe(0);
        const result = await runCli(['doctor'], env);
        expect(result.code, result.stdout + result.stderr).toBe(1);
        expect(result.stdout).toMatch(
          new RegExp(
            `^✗ disk: \\d+ MiB free where the database lives \\(${dataDir}\\), under 1\\.0 GiB: a full disk stops every write`,
            'm',
          ),
        );
        // Every other check still passes.
        expect(checks(result.stdout).filter(([mark]) => mark === '✗')).toHaveLength(1);
      } finally {
        execFileSync('umount', [dataDir]);
      }
    },
  );

  // Neither touches the store under test (a closed port, a setting that does not parse).
  it.runIf(ON_SQLITE)(
    'says ✗ and exits 1 when the database does not answer, or the configuration does not parse',
    async () => {
      const port = await freePort();
      const [unreachable, badConfig] = await Promise.all([
        runCli(
          ['doctor'],
          {
            TIDINGS_DATABASE_URL: `postgres://tidings@127.0.0.1:${port}/nothing`,
            TIDINGS_SECRET: 'a-master-secret-0123456789abcdef0123',
            TIDINGS_DATA_DIR: tempDataDir(),
          },
          SIDE_BY_SIDE_MS,
        ),
        runCli(['doctor'], { TIDINGS_PORT: 'abc', TIDINGS_DATA_DIR: tempDataDir() }, SIDE_BY_SIDE_MS),
      ]);
      expect(unreachable.code).toBe(1);
      expect(unreachable.stdout).toMatch(/✗ store: not reachable: .*ECONNREFUSED/);
      expect(badConfig.code).toBe(1);
      expect(badConfig.stdout).toMatch(/^✗ configuration: TIDINGS_PORT/);
    },
  );
});

// `tidings send` is a client of the HTTP API (TIDINGS_URL), never of the database: what the API
// does with each store is proven by the rest of the suite on both.
describe.runIf(ON_SQLITE)('tidings send', () => {
  it('triggers an event through the API and prints its id and messages; bad --data exits 2', async () => {
    const env = { ...(await databaseEnv(tempDataDir())), TIDINGS_API_KEY: KEY };
    const server = await startChild(env, SLOW_START);
    const client = { ...env, TIDINGS_URL: server.url };
    const sent = await runCli(['send', 'welcome', 'ada', 'bob', '--data', '{"name":"Ada"}'], client);
    expect(sent.code, sent.stdout + sent.stderr).toBe(0);
    const eventId = sent.stdout.match(/^event (evt_\w+) accepted$/m)?.[1];
    expect(eventId, sent.stdout).toBeDefined();
    const event = await callJson(`${server.url}/v1/events/${eventId}`, 'GET', KEY);
    expect(event.status).toBe(200);
    expect(event.body.workflow).toBe('welcome');
    // Every message the server has is printed with its status (it waited for them to settle).
    expect(event.body.messages.length).toBeGreaterThanOrEqual(2);
    for (const message of event.body.messages)
      expect(sent.stdout).toContain(
        `${message.messageId}  ${message.subscriberId}  ${message.channel}  ${message.status}`,
      );
    const inbox = event.body.messages.find(
      (m: { subscriberId: string; channel: string }) => m.subscriberId === 'ada' && m.channel === 'in_app',
    );
    expect(inbox.status).toBe('delivered');

    // The same idempotency key twice: one event.
    const again = await runCli(['send', 'welcome', 'ada', '--idempotency-key', 'k1', '--wait', '0'], client);
    const twice = await runCli(['send', 'welcome', 'ada', '--idempotency-key', 'k1', '--wait', '0'], client);
    expect(twice.stdout.match(/event (evt_\w+)/)?.[1]).toBe(again.stdout.match(/event (evt_\w+)/)?.[1]);
    expect(twice.stdout).toContain('nothing sent again');

    // Refusals, each sending nothing: side by side.
    const [badJson, notObject, unknown, noUrl] = await Promise.all([
      runCli(['send', 'welcome', 'ada', '--data', '{"name":'], client, SIDE_BY_SIDE_MS),
      runCli(['send', 'welcome', 'ada', '--data', '[1]'], client, SIDE_BY_SIDE_MS),
      runCli(['send', 'nope', 'ada'], client, SIDE_BY_SIDE_MS),
      runCli(['send', 'welcome', 'ada'], { ...env, TIDINGS_URL: undefined }, SIDE_BY_SIDE_MS),
    ]);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toContain('--data is not valid JSON');
    expect(notObject.code).toBe(2);
    expect(notObject.stderr).toContain('--data must be a JSON object');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('workflow_not_found');
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('TIDINGS_URL');
  }, 120_000);
});

// An event whose one recipient was erased before any worker ran it reaches nobody: `send`,
// watching it (here again, by its idempotency key), stops once it completes instead of waiting
// out --wait. Separate api and worker processes hold the event back: PostgreSQL only.
describe.runIf(STORE_UNDER_TEST === 'postgres')('tidings send, on an event that reaches nobody', () => {
  it('stops watching once the event completed', async () => {
    const env = { ...(await databaseEnv(tempDataDir())), TIDINGS_API_KEY: KEY };
    const api = await startChild(env, { ...SLOW_START, args: ['api'] });
    const client = { ...env, TIDINGS_URL: api.url };
    const send = ['send', 'welcome', 'ghost', '--idempotency-key', 'ghost-1'];
    const sent = await runCli([...send, '--wait', '0'], client);
    expect(sent.code, sent.stdout + sent.stderr).toBe(0);
    const eventId = sent.stdout.match(/^event (evt_\w+) accepted$/m)?.[1];
    expect(eventId, sent.stdout).toBeDefined();
    expect((await callJson(`${api.url}/v1/subscribers/ghost`, 'DELETE', KEY)).status).toBe(202);
    await startChild(
      { ...env, TIDINGS_DATA_DIR: tempDataDir() },
      { ...SLOW_START, args: ['worker'], portVariable: 'TIDINGS_WORKER_PORT' },
    );
    // Killed at 60 s (code null) if it waited out its ten minutes.
    const watched = await runCli([...send, '--wait', '600'], client, 60_000);
    expect(watched.code, watched.stdout + watched.stderr).toBe(0);
    expect(watched.stdout).toContain(`event ${eventId} already accepted`);
    expect(watched.stdout).toContain('status completed');
    expect(watched.stdout).toContain('no messages (the event finished without sending any)');
    const event = await callJson(`${api.url}/v1/events/${eventId}`, 'GET', KEY);
    expect(event.body).toMatchObject({ status: 'completed', messages: [] });
  }, 180_000);
});

describe('tidings tail', () => {
  it('prints a line per status change of a message sent while it runs, and stops on Ctrl-C', async () => {
    const env = { ...(await databaseEnv(tempDataDir())), TIDINGS_API_KEY: KEY };
    const server = await startChild(env, SLOW_START);
    const put = await callJson(`${server.url}/v1/workflows/tailed`, 'PUT', KEY, {
      channels: [{ channel: 'email', template: { subject: 'Hi {{ data.n }}', html: '<p>b</p>' } }],
    });
    expect(put.status).toBe(200);
    const tail = spawnTidings(['tail', '--workflow', 'tailed'], env);
    await waitFor(() => tail.stderr().includes('following message status changes'), 'tail to start', 15_000);

    const event = await callJson(`${server.url}/v1/events`, 'POST', KEY, {
      workflow: 'tailed',
      to: [{ subscriberId: 'tess', email: 'tess@example.com' }],
      data: { n: 1 },
    });
    expect(event.status).toBe(202);
    const done = await waitFor(
      async () => {
        const res = await callJson(`${server.url}/v1/events/${event.body.eventId}`, 'GET', KEY);
        return res.body.status === 'completed' ? res.body : null;
      },
      'the email to be sent',
      15_000,
    );
    const message = done.messages[0];
    expect(message).toMatchObject({ subscriberId: 'tess', channel: 'email', status: 'sent' });
    const lines = await waitFor(
      () => {
        const mine = tail
          .stdout()
          .split('\n')
          .filter((line) => line.includes(message.messageId));
        return mine.some((line) => / sent /.test(`${line} `)) ? mine : null;
      },
      "tail's line for the sent email",
      10_000,
    ).then((found) => found!);
    // Each status of its timeline (API.md: every status change appends an entry), once, in order.
    const statuses = message.timeline
      .map((entry: { status: string }) => entry.status)
      .filter((status: string) => (MESSAGE_STATUSES as readonly string[]).includes(status));
    expect(statuses[0]).toBe('queued');
    expect(lines.map((line) => line.split(/\s+/)[4])).toEqual(statuses);
    expect(lines.at(-1)).toMatch(/^\d{4}-\d\d-\d\dT\S+Z\s+msg_\w+\s+tess\s+email\s+sent\b/);
    expect(tail.stdout()).not.toContain(ESC);
    // The demo workflow's messages are not this workflow's: filtered out.
    await callJson(`${server.url}/v1/events`, 'POST', KEY, { workflow: 'welcome', to: ['tess'] });

    tail.proc.kill('SIGINT');
    expect(await tail.exited).toBe(0);
    expect(tail.stdout()).not.toContain('in_app');
  }, 120_000);

  it('refuses an unknown tenant and a bad window', async () => {
    const env = await databaseEnv(tempDataDir());
    expect((await runCli(['migrate'], env)).code).toBe(0);
    const [tenant, window] = await Promise.all([
      runCli(['tail', '--tenant', 'nobody'], env, SIDE_BY_SIDE_MS),
      runCli(['tail', '--window', 'soon'], env, SIDE_BY_SIDE_MS),
    ]);
    expect(tenant.code).toBe(1);
    expect(tenant.stderr).toContain('no tenant "nobody"');
    expect(window.code).toBe(2);
    expect(window.stderr).toContain('--window');
  });
});

describe.runIf(ON_SQLITE)('tidings --help', () => {
  it('lists doctor, send and tail', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['doctor', 'send WORKFLOW SUBSCRIBER...', 'tail [--tenant ID]'])
      expect(help.stdout).toContain(`  ${command}`);
  });
});
