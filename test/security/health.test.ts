import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { callJson, cleanupChildren, startChild, tempDataDir } from '../helpers/child.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { countRows, STORE_UNDER_TEST } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

const KEY = 'tdk_health_test_key_0123456789';

let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
  await cleanupChildren();
});

/** Overwrites every page of a SQLite file but the first (header and schema root) with garbage. */
function corruptPagesAfterTheFirst(file: string): void {
  const fd = openSync(file, 'r+');
  try {
    const header = Buffer.alloc(100);
    readSync(fd, header, 0, 100, 0);
    const raw = header.readUInt16BE(16);
    const pageSize = raw === 1 ? 65_536 : raw;
    const size = fstatSync(fd).size;
    expect(size / pageSize).toBeGreaterThan(4);
    const garbage = Buffer.alloc(pageSize, 0xa5);
    for (let offset = pageSize; offset < size; offset += pageSize)
      writeSync(fd, garbage, 0, pageSize, offset);
  } finally {
    closeSync(fd);
  }
}

async function readiness(
  url: string,
): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  return callJson(`${url}/readyz`, 'GET', null);
}

describe('12. store health', () => {
  it.runIf(STORE_UNDER_TEST === 'sqlite')(
    'a database file damaged under a running Tidings makes /readyz answer 503 with the reason',
    async () => {
      const dataDir = tempDataDir();
      const db = path.join(dataDir, 'tidings.db');
      const env = { TIDINGS_DATABASE_URL: `sqlite:${db}`, TIDINGS_DATA_DIR: dataDir, TIDINGS_API_KEY: KEY };
      const first = await startChild(env);
      // Enough rows for the tables to span many pages, all delivered; a clean stop then folds the
      // write-ahead log into the database file, so what the next start reads comes from that file.
      const events = Array.from({ length: 300 }, (_, i) => ({
        workflow: 'welcome',
        to: [`reader_${i}`],
        data: { name: `Reader ${i}`, padding: 'x'.repeat(200) },
      }));
      expect((await callJson(`${first.url}/v1/events/bulk`, 'POST', KEY, { events })).status).toBe(202);
      await waitFor(
        async () => (await countRows(`sqlite:${db}`, ['jobs'])).jobs === 0,
        'the deliveries',
        20_000,
      );
      first.kill('SIGTERM');
      expect(await first.exited).toBe(0);

      const child = await startChild(env);
      expect((await readiness(child.url)).status).toBe(200);
      corruptPagesAfterTheFirst(db);
      // A write after the damage: other connections drop the pages they had cached and read the file.
      await callJson(`${child.url}/v1/events`, 'POST', KEY, { workflow: 'welcome', to: ['late_reader'] });

      const answer = await waitFor(
        async () => {
          const ready = await readiness(child.url);
          return ready.status === 503 ? ready : null;
        },
        '/readyz to answer 503',
        15_000,
        50,
      );
      expect(answer!.body.error?.code).toBe('unavailable');
      expect(answer!.body.error?.message).toMatch(/store/);
      expect(answer!.body.error?.message).toMatch(/SQLITE_CORRUPT|malformed|SQLITE_NOTADB/);
    },
    60_000,
  );

  it('a worker thread that died makes /readyz answer 503 naming it until it is back', async () => {
    server = await startTestServer();
    expect((await readiness(server.url)).status).toBe(200);
    const [thread] = server.tidings.worker!.threads();
    expect(thread).toBeDefined();
    await thread!.terminate();

    const down = await readiness(server.url);
    expect(down.status).toBe(503);
    expect(down.body.error).toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/worker thread/),
    });
    // Restarted by its supervisor a moment later: ready again, with a new thread.
    await waitFor(
      async () => (await readiness(server!.url)).status === 200,
      'the restarted worker thread',
      15_000,
      50,
    );
    expect(server.tidings.worker!.threads()[0]).not.toBe(thread);
  });
});
