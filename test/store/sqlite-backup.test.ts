import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type BackupProgress, backupSqliteDatabase } from '../../src/store/sqlite/backup.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';

const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A migrated Tidings database of about `pages` 4 KiB pages (a padding table fills it). */
async function tidingsDatabase(pages: number): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tidings-backup-unit-'));
  dirs.push(dir);
  const file = path.join(dir, 'tidings.db');
  await openSqliteStore({ file }).close();
  const db = new Database(file);
  db.exec('CREATE TABLE padding (id INTEGER PRIMARY KEY, blob BLOB)');
  const insert = db.prepare('INSERT INTO padding (blob) VALUES (randomblob(4000))');
  db.transaction(() => {
    for (let i = 0; i < pages; i++) insert.run();
  })();
  db.close();
  return file;
}

describe('backupSqliteDatabase', () => {
  it('finishes while another connection keeps writing between its steps, and the copy holds those writes', async () => {
    const source = await tidingsDatabase(4000);
    const target = path.join(path.dirname(source), 'copy.db');
    // The running server: another connection, whose commits make SQLite start the copy over.
    // It rewrites a row in place, so the database does not grow: the pages left stay the same.
    const server = new Database(source);
    server.pragma('journal_mode = WAL');
    const rewrite = server.prepare('UPDATE padding SET blob = randomblob(4000) WHERE id = 1');
    const seen: BackupProgress[] = [];
    let writes = 0;
    const result = await backupSqliteDatabase({
      source,
      target,
      overwrite: false,
      onProgress: (progress) => {
        seen.push(progress);
        // A write after every step, for ever: without finishing in one step the copy never would.
        if (progress.remainingPages > 0) {
          rewrite.run();
          writes++;
        }
      },
    });
    const latest = server.prepare('SELECT blob FROM padding WHERE id = 1').pluck().get() as Buffer;
    server.close();

    // It restarted (the pages left did not go down), then finished in one step.
    expect(seen.some((p, i) => i > 1 && p.remainingPages >= seen[i - 1]!.remainingPages)).toBe(true);
    expect(seen.at(-1)!.remainingPages).toBe(0);
    expect(writes).toBeGreaterThan(1);
    expect(result.pages).toBeGreaterThan(4000);

    const copy = new Database(target, { readonly: true });
    try {
      expect(copy.prepare('PRAGMA integrity_check').pluck().all()).toEqual(['ok']);
      expect(copy.prepare('SELECT count(*) FROM padding').pluck().get()).toBe(4000);
      // The last write committed before the final step is in the copy.
      expect(copy.prepare('SELECT blob FROM padding WHERE id = 1').pluck().get()).toEqual(latest);
    } finally {
      copy.close();
    }
  });
});
