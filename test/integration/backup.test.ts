import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  callJson,
  cleanupChildren,
  runCli,
  spawnTidings,
  sqliteEnv,
  startChild,
  tempDataDir,
} from '../helpers/child.ts';
import { STORE_UNDER_TEST } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

const KEY = 'tdk_backup_test_key_0123456789';

afterEach(cleanupChildren);

/** The database of `dataDir`, opened read-only straight with SQLite (not through Tidings). */
function readDatabase<T>(file: string, read: (db: Database.Database) => T): T {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

const NOTE_WORKFLOW = {
  channels: [{ channel: 'in_app', template: { title: 'Note {{ data.n }}', body: 'b' } }],
};

/**
 * Posts events to `url` from `lanes` concurrent senders until `stop()` is called; every event
 * answered 202 is recorded (with whether it was answered before `mark` was set).
 */
function keepPosting(url: string, lanes = 4) {
  const accepted: { eventId: string; subscriberId: string; beforeMark: boolean }[] = [];
  let stopped = false;
  let marked = false;
  let n = 0;
  const lane = async () => {
    while (!stopped) {
      const i = n++;
      const subscriberId = `sub-${i}`;
      const answer = await callJson(`${url}/v1/events`, 'POST', KEY, {
        workflow: 'note',
        to: [{ subscriberId, email: `${subscriberId}@example.com` }],
        data: { n: i },
      });
      if (answer.status !== 202)
        throw new Error(`event ${i}: ${answer.status} ${JSON.stringify(answer.body)}`);
      accepted.push({ eventId: answer.body.eventId, subscriberId, beforeMark: !marked });
    }
  };
  const running = Promise.all(Array.from({ length: lanes }, lane));
  return {
    accepted,
    mark: () => {
      marked = true;
    },
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

describe.runIf(STORE_UNDER_TEST === 'sqlite')('tidings backup / tidings restore (embedded SQLite)', () => {
  it('backs up a running server that keeps accepting events; the copy restores elsewhere and serves the data', async () => {
    const home = tempDataDir();
    const env = { ...sqliteEnv(home), TIDINGS_API_KEY: KEY };
    const server = await startChild(env);
    expect((await callJson(`${server.url}/v1/workflows/note`, 'PUT', KEY, NOTE_WORKFLOW)).status).toBe(200);

    const load = keepPosting(server.url);
    await waitFor(() => load.accepted.length >= 40, '40 events accepted before the backup', 30_000);
    // Every event answered 202 by now is committed: the backup must hold each of them.
    load.mark();
    const backupFile = path.join(tempDataDir('tidings-backup-'), 'tidings-backup.db');
    const backup = await runCli(['backup', backupFile], env, 60_000);
    const duringBackup = load.accepted.filter((e) => !e.beforeMark).length;
    await waitFor(
      () => load.accepted.filter((e) => !e.beforeMark).length >= duringBackup + 20,
      'more events accepted after the backup',
      30_000,
    );
    await load.stop();

    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toContain(`backed up ${path.join(home, 'tidings.db')} to ${backupFile}`);
    // The secret is not in the database: the note names the file to keep.
    expect(backup.stdout).toContain(path.join(home, 'master-secret'));
    // Not a terminal: no progress lines.
    expect(backup.stderr).toBe('');
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
    expect(existsSync(`${backupFile}-wal`)).toBe(false);

    const before = load.accepted.filter((e) => e.beforeMark);
    const copy = readDatabase(backupFile, (db) => ({
      integrity: db.prepare('PRAGMA integrity_check').pluck().all(),
      foreignKeys: db.prepare('PRAGMA foreign_key_check').all(),
      journal: db.pragma('journal_mode', { simple: true }),
      events: new Set(db.prepare('SELECT id FROM events').pluck().all() as string[]),
    }));
    expect(copy.integrity).toEqual(['ok']);
    expect(copy.foreignKeys).toEqual([]);
    // One self-contained file, not a WAL database that needs its -wal beside it.
    expect(copy.journal).toBe('delete');
    for (const { eventId } of before) expect(copy.events.has(eventId), eventId).toBe(true);
    // Taken while events kept coming: some accepted after it started are not in it, and that is fine.
    expect(copy.events.size).toBeLessThanOrEqual(load.accepted.length);

    // A new machine: the backup and the master secret, as docs/operations.md says.
    server.kill('SIGTERM');
    await server.exited;
    const elsewhere = tempDataDir();
    const elsewhereEnv = { ...sqliteEnv(elsewhere), TIDINGS_API_KEY: KEY };
    const restored = await runCli(['restore', backupFile], elsewhereEnv);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain(`restored ${backupFile} into ${path.join(elsewhere, 'tidings.db')}`);
    expect(restored.stdout).toContain(path.join(elsewhere, 'master-secret'));
    expect(statSync(path.join(elsewhere, 'tidings.db')).mode & 0o777).toBe(0o600);

    // Without the secret file the data cannot be opened: the start says so and writes nothing.
    const secretless = spawnTidings(['start'], { ...elsewhereEnv, TIDINGS_PORT: '0' });
    expect(await secretless.exited).toBe(2);
    expect(secretless.stderr()).toContain('TIDINGS_SECRET');
    expect(existsSync(path.join(elsewhere, 'master-secret'))).toBe(false);

    copyFileSync(path.join(home, 'master-secret'), path.join(elsewhere, 'master-secret'));
    const again = await startChild(elsewhereEnv);
    const sample = [before[0]!, before[Math.floor(before.length / 2)]!, before[before.length - 1]!];
    for (const { eventId, subscriberId } of sample) {
      const event = await waitFor(
        async () => {
          const res = await callJson(`${again.url}/v1/events/${eventId}`, 'GET', KEY);
          return res.body?.status === 'completed' ? res.body : null;
        },
        `event ${eventId} delivered on the restored installation`,
        20_000,
      );
      expect(event.messages).toMatchObject([{ subscriberId, channel: 'in_app', status: 'delivered' }]);
      // Personal data is sealed under the data key the secret opens: it reads back in clear.
      const subscriber = await callJson(`${again.url}/v1/subscribers/${subscriberId}`, 'GET', KEY);
      expect(subscriber.status).toBe(200);
      expect(subscriber.body.email).toBe(`${subscriberId}@example.com`);
    }
  }, 180_000);

  it('restore refuses while a server has the database open, and leaves it as it was', async () => {
    const home = tempDataDir();
    const env = { ...sqliteEnv(home), TIDINGS_API_KEY: KEY };
    const server = await startChild(env);
    const backupFile = path.join(tempDataDir('tidings-backup-'), 'before.db');
    expect((await runCli(['backup', backupFile], env)).code).toBe(0);
    // Made after the backup: a restore would remove it.
    expect((await callJson(`${server.url}/v1/workflows/note`, 'PUT', KEY, NOTE_WORKFLOW)).status).toBe(200);

    const refused = await runCli(['restore', backupFile], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/tidings restore: .*tidings\.db is in use/);
    expect(refused.stderr).toContain('Stop every Tidings process');
    expect((await callJson(`${server.url}/v1/workflows/note`, 'GET', KEY)).status).toBe(200);
    expect(existsSync(`${path.join(home, 'tidings.db')}-wal`)).toBe(true);

    // Also `tidings worker` alone (a separate process on the same file) counts as running.
    server.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const worker = spawnTidings(['worker'], env);
    await waitFor(() => worker.stdout().includes('worker started'), 'the worker to start', 30_000);
    expect((await runCli(['restore', backupFile], env)).code).not.toBe(0);
    worker.proc.kill('SIGTERM');
    await worker.exited;

    // Stopped: the restore goes through and the workflow made after the backup is gone.
    const restored = await runCli(['restore', backupFile], env);
    expect(restored.code, restored.stderr).toBe(0);
    const after = await startChild(env);
    expect((await callJson(`${after.url}/v1/workflows/note`, 'GET', KEY)).status).toBe(404);
    expect((await callJson(`${after.url}/v1/workflows/welcome`, 'GET', KEY)).status).toBe(200);
  }, 150_000);

  it('restore refuses a file that is not a Tidings database, or one from a newer Tidings; backup will not overwrite', async () => {
    const home = tempDataDir();
    const env = sqliteEnv(home);
    expect((await runCli(['migrate'], env)).code).toBe(0);
    const database = path.join(home, 'tidings.db');
    const original = readFileSync(database);
    const files = tempDataDir('tidings-backup-');

    const text = path.join(files, 'notes.txt');
    writeFileSync(text, 'these are not the rows you are looking for\n'.repeat(200));
    const notDatabase = await runCli(['restore', text], env);
    expect(notDatabase.code).toBe(2);
    expect(notDatabase.stderr).toContain(`tidings restore: ${text} is not a SQLite database`);

    const other = path.join(files, 'other.db');
    const plain = new Database(other);
    plain.exec('CREATE TABLE things (id INTEGER PRIMARY KEY)');
    plain.close();
    const notTidings = await runCli(['restore', other], env);
    expect(notTidings.code).toBe(2);
    expect(notTidings.stderr).toContain('not a Tidings one');

    const backupFile = path.join(files, 'tidings.db');
    expect((await runCli(['backup', backupFile], env)).code).toBe(0);
    const refused = await runCli(['backup', backupFile], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${backupFile} exists`);
    expect(refused.stderr).toContain('--force');
    expect((await runCli(['backup', backupFile, '--force'], env)).code).toBe(0);
    expect((await runCli(['backup', database, '--force'], env)).stderr).toContain('is the database itself');

    const newer = path.join(files, 'newer.db');
    copyFileSync(backupFile, newer);
    const future = new Database(newer);
    future
      .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
      .run(9999, '9999_from_the_future.sql', Date.now());
    future.close();
    const tooNew = await runCli(['restore', newer], env);
    expect(tooNew.code).toBe(2);
    expect(tooNew.stderr).toMatch(
      /made by a newer Tidings \(schema version 9999; this one knows up to \d+\)/,
    );

    // Nothing refused touched the database.
    expect(readFileSync(database).equals(original)).toBe(true);
  }, 120_000);

  it('on PostgreSQL both commands refuse and point at the pg_dump recipe', async () => {
    const env = {
      TIDINGS_DATABASE_URL: 'postgres://tidings@127.0.0.1:1/none',
      TIDINGS_SECRET: 'x'.repeat(32),
    };
    // Both refuse before touching anything: side by side.
    const [backup, restore] = await Promise.all([
      runCli(['backup', path.join(tempDataDir(), 'b.db')], env, 45_000),
      runCli(['restore', path.join(tempDataDir(), 'b.db')], env, 45_000),
    ]);
    expect(backup.code).toBe(2);
    expect(backup.stderr).toContain('pg_dump');
    expect(backup.stderr).toMatch(/docs\/operations\.md/);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toContain('pg_restore');
  }, 60_000);
});
