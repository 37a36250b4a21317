import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { STORE_UNDER_TEST } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

// A full disk is a real outage of a self-hosted server: the store cannot grow its log or file.
// Tidings answers it as it answers a busy store — 503 `unavailable` with Retry-After, which the
// official client retries — rather than a 500 the client gives up on, and writes nothing.
// The data directory is a small tmpfs filled to the last byte, so mounting needs root (CI runs
// as root; elsewhere this is skipped with a message).
const canMount = process.getuid?.() === 0;
if (!canMount && STORE_UNDER_TEST === 'sqlite')
  console.warn('disk-full.test.ts: skipped (mounting a small tmpfs needs root)');

/** Writes zeros into `file` until the file system refuses (ENOSPC). */
function fillUp(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) {
      try {
        writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
    // The last partial chunk: fill whatever bytes are left.
    for (;;) {
      try {
        if (writeSync(fd, chunk, 0, 512) === 0) break;
      } catch {
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
}

describe.runIf(STORE_UNDER_TEST === 'sqlite' && canMount)('the embedded store on a full disk', () => {
  let mountPoint: string;
  let server: TestServer;

  beforeAll(async () => {
    mountPoint = mkdtempSync(path.join(tmpdir(), 'tidings-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mountPoint]);
    server = await startTestServer({
      TIDINGS_DATABASE_URL: `sqlite:${path.join(mountPoint, 'tidings.db')}`,
      TIDINGS_DATA_DIR: mountPoint,
    });
    const workflow = await server.call('PUT', '/v1/workflows/notice', {
      channels: [{ channel: 'in_app', template: { body: 'Notice {{ data.n }}' } }],
    });
    expect(workflow.status).toBe(200);
    expect(
      (await server.call('PUT', '/v1/subscribers/reader', { email: 'reader@example.test' })).status,
    ).toBe(200);
  });

  afterAll(async () => {
    await server?.close();
    if (mountPoint) {
      execFileSync('umount', [mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });

  it('answers 503 unavailable with Retry-After while the disk is full, writes nothing, and takes the same request once there is room', async () => {
    const filler = path.join(mountPoint, 'filler');
    fillUp(filler);
    // The log may still have room of its own: write until the store must grow and cannot.
    // Within a subscriber's 64 KiB of data (MAX_SUBSCRIBER_DATA_BYTES): 400 of them pass 16 MB.
    const pad = 'x'.repeat(60_000);
    let refused: Awaited<ReturnType<TestServer['call']>> | null = null;
    let id = '';
    for (let i = 0; i < 400 && !refused; i++) {
      id = `full_${i}`;
      const res = await server.call('PUT', `/v1/subscribers/${id}`, {
        email: `${id}@example.test`,
        data: { pad },
      });
      expect(res.status, JSON.stringify(res.body)).not.toBe(500);
      if (res.status !== 200) refused = res;
    }
    expect(refused?.status).toBe(503);
    expect(refused?.body.error).toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/disk space/),
    });
    expect(refused?.headers.get('retry-after')).toBe('30');

    // Nothing of the refused request was written.
    expect((await server.call('GET', `/v1/subscribers/${id}`)).status).toBe(404);
    // A small write may still fit in the room the log already has; either way it is never a 500,
    // and one taken while the disk is full is delivered once there is room (its jobs waited
    // without spending attempts).
    const event = await server.call('POST', '/v1/events', {
      workflow: 'notice',
      to: ['reader'],
      data: { n: 1 },
    });
    expect([202, 503], JSON.stringify(event.body)).toContain(event.status);
    if (event.status === 503) expect(event.body.error.code).toBe('unavailable');

    rmSync(filler);
    const again = await server.call('PUT', `/v1/subscribers/${id}`, {
      email: `${id}@example.test`,
      data: { pad },
    });
    expect(again.status).toBe(200);
    const accepted = await server.call('POST', '/v1/events', {
      workflow: 'notice',
      to: ['reader'],
      data: { n: 2 },
    });
    expect(accepted.status).toBe(202);
    const delivered = [accepted.body.eventId, ...(event.status === 202 ? [event.body.eventId] : [])];
    for (const eventId of delivered) {
      await waitFor(async () => {
        const view = await server.call('GET', `/v1/events/${eventId}`);
        return view.body.messages?.[0]?.status === 'delivered';
      }, `event ${eventId} to be delivered`);
    }
  });
});
