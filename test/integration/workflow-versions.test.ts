import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledMessages } from '../helpers/messages.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// API.md "Templates": every PUT makes a new version; an event renders with the version current
// when it was accepted, also when it is sent later; versions are listed; rollback copies one.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

const inApp = (title: string) => ({ channels: [{ channel: 'in_app', template: { title, body: 'b' } }] });

async function send(workflow: string, extra: Record<string, unknown> = {}) {
  const posted = await server.call('POST', '/v1/events', { workflow, to: ['ver_user'], data: {}, ...extra });
  expect(posted.status).toBe(202);
  return posted.body.eventId as string;
}

describe('workflow versions', () => {
  it('a scheduled event renders with the version current at acceptance, after the workflow changed', async () => {
    const first = await server.call('PUT', '/v1/workflows/ver-pin', inApp('version one'));
    expect(first.body.version).toBe(1);
    const sendAt = new Date(Date.now() + 3_000).toISOString();
    const scheduled = await send('ver-pin', { sendAt });
    const second = await server.call('PUT', '/v1/workflows/ver-pin', inApp('version two'));
    expect(second.body.version).toBe(2);
    const changedAt = Date.now();
    const now = await send('ver-pin');

    const [later] = await settledMessages(server, [scheduled], 1);
    const [current] = await settledMessages(server, [now], 1);
    // Rendered after the change, with what was current when it was accepted.
    expect(Date.parse(later.createdAt)).toBeGreaterThan(changedAt);
    expect(later).toMatchObject({ workflowVersion: 1, content: { title: 'version one' } });
    expect(later.timeline.find((e: { status: string }) => e.status === 'routed').detail).toMatch(
      /workflow ver-pin v1,/,
    );
    expect(current).toMatchObject({ workflowVersion: 2, content: { title: 'version two' } });
    expect((await server.call('GET', `/v1/events/${scheduled}`)).body.workflowVersion).toBe(1);
    expect((await server.call('GET', `/v1/events/${now}`)).body.workflowVersion).toBe(2);
    const listed = await server.call('GET', `/v1/messages?eventId=${scheduled}`);
    expect(listed.body.items[0].workflowVersion).toBe(1);
  });

  it('lists versions newest first and rolls back to a copy of one', async () => {
    await server.call('PUT', '/v1/workflows/ver-roll', inApp('alpha'));
    await server.call('PUT', '/v1/workflows/ver-roll', { ...inApp('beta'), name: 'Beta' });
    const versions = await server.call('GET', '/v1/workflows/ver-roll/versions');
    expect(versions.status).toBe(200);
    // Every list's shape (API.md), one page.
    expect(versions.body.nextCursor).toBeNull();
    expect(
      versions.body.items.map((v: { version: number; current: boolean }) => [v.version, v.current]),
    ).toEqual([
      [2, true],
      [1, false],
    ]);
    expect(versions.body.items[1].definition.channels[0].template.title).toBe('alpha');

    const rolled = await server.call('POST', '/v1/workflows/ver-roll/rollback', { version: 1 });
    expect(rolled.status).toBe(200);
    expect(rolled.body).toMatchObject({ key: 'ver-roll', version: 3 });
    expect(rolled.body.name).toBeUndefined();
    expect(rolled.body.channels[0].template.title).toBe('alpha');
    const event = await send('ver-roll');
    const [message] = await settledMessages(server, [event], 1);
    expect(message).toMatchObject({ workflowVersion: 3, content: { title: 'alpha' } });
    const after = await server.call('GET', '/v1/workflows/ver-roll/versions');
    expect(after.body.items.map((v: { version: number }) => v.version)).toEqual([3, 2, 1]);
  });

  it('pages versions newest first: 20 a page by default, `limit` up to 100, a cursor it issued', async () => {
    for (let n = 1; n <= 25; n++) await server.call('PUT', '/v1/workflows/ver-many', inApp(`v${n}`));
    const first = await server.call('GET', '/v1/workflows/ver-many/versions');
    expect(first.status).toBe(200);
    const numbers = (body: { items: { version: number }[] }) => body.items.map((v) => v.version);
    expect(numbers(first.body)).toEqual(Array.from({ length: 20 }, (_, i) => 25 - i));
    expect(first.body.items[0].current).toBe(true);
    const second = await server.call(
      'GET',
      `/v1/workflows/ver-many/versions?cursor=${encodeURIComponent(first.body.nextCursor)}`,
    );
    expect(numbers(second.body)).toEqual([5, 4, 3, 2, 1]);
    expect(second.body.items.every((v: { current: boolean }) => !v.current)).toBe(true);
    expect(second.body.nextCursor).toBeNull();
    const small = await server.call('GET', '/v1/workflows/ver-many/versions?limit=3');
    expect(numbers(small.body)).toEqual([25, 24, 23]);
    for (const query of ['limit=101', 'limit=0', 'cursor=nope', 'other=1']) {
      const refused = await server.call('GET', `/v1/workflows/ver-many/versions?${query}`);
      expect(refused.status, query).toBe(400);
    }
  });

  it('refuses a rollback to a version or workflow that does not exist, and a bad body', async () => {
    await server.call('PUT', '/v1/workflows/ver-missing', inApp('x'));
    const noVersion = await server.call('POST', '/v1/workflows/ver-missing/rollback', { version: 7 });
    expect(noVersion.status).toBe(404);
    expect(noVersion.body.error.message).toMatch(/ver-missing v7/);
    expect((await server.call('POST', '/v1/workflows/nope/rollback', { version: 1 })).status).toBe(404);
    expect((await server.call('GET', '/v1/workflows/nope/versions')).status).toBe(404);
    const bad = await server.call('POST', '/v1/workflows/ver-missing/rollback', { version: 'one' });
    expect(bad.status).toBe(400);
    expect((await server.call('POST', '/v1/workflows/ver-missing/rollback', { version: 0 })).status).toBe(
      400,
    );
    // Nothing changed.
    expect((await server.call('GET', '/v1/workflows/ver-missing')).body.version).toBe(1);
  });
});
