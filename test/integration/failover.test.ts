import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { type CapturedMail, type FakeSmtp, startFakeSmtp } from '../fakes/smtp.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/** Short, so the test sees the circuit half-open without waiting 30 s (API.md env var). */
const COOL_DOWN_MS = 1500;
const FROM = 'Tidings <noreply@tidings.test>';

let server: TestServer;
let backup: FakeSmtp;
let primaryPort: number;
let primary: FakeSmtp | null = null;
let refusing: FakeSmtp | null = null;
let sent = 0;

const smtpIntegration = (id: string, priority: number, config: Record<string, unknown>, extra: Json = {}) =>
  server.call('PUT', `/v1/integrations/${id}`, {
    channel: 'email',
    provider: 'smtp',
    priority,
    config: { host: '127.0.0.1', from: FROM, ...config },
    ...extra,
  });

/** Sends `count` events, one email each to its own address; answers their event ids. */
async function sendEmails(count: number): Promise<string[]> {
  const events = Array.from({ length: count }, () => {
    const n = sent++;
    return {
      workflow: 'notice',
      to: [{ subscriberId: `user-${n}`, email: `user-${n}@example.test` }],
      data: { n },
    };
  });
  const answer = await server.call('POST', '/v1/events/bulk', { events });
  expect(answer.status).toBe(202);
  return answer.body.results.map((r: Json) => r.eventId);
}

/** The events' email messages once every one is `sent`. */
async function sentMessages(eventIds: string[]): Promise<Json[]> {
  const messages = await waitFor(
    async () => {
      const views = await Promise.all(eventIds.map((id) => server.call('GET', `/v1/events/${id}`)));
      const messages = views.map((v) => v.body.messages?.find((m: Json) => m.channel === 'email'));
      return messages.every((m) => m?.status === 'sent') ? messages : null;
    },
    'every email sent',
    20_000,
  );
  return messages as Json[];
}

async function circuit(id: string): Promise<Json> {
  const list = await server.call('GET', '/v1/integrations');
  expect(list.status).toBe(200);
  return list.body.items.find((i: Json) => i.id === id)?.circuit;
}

const messageIds = (mails: readonly CapturedMail[]) => mails.map((m) => m.header('x-tidings-message-id'));

beforeAll(async () => {
  [server, backup, primaryPort] = await Promise.all([
    startTestServer({
      TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
      TIDINGS_CIRCUIT_COOLDOWN_MS: String(COOL_DOWN_MS),
    }),
    startFakeSmtp(),
    closedPort(),
  ]);
  // The primary refuses connections: nothing listens on its port yet.
  expect((await smtpIntegration('primary', 1, { port: primaryPort })).status).toBe(200);
  expect((await smtpIntegration('backup', 2, { port: backup.port })).status).toBe(200);
  const workflow = await server.call('PUT', '/v1/workflows/notice', {
    channels: [
      { channel: 'email', template: { subject: 'Notice {{ data.n }}', text: 'Hello {{ data.n }}' } },
    ],
  });
  expect(workflow.status).toBe(200);
});

afterAll(async () => {
  await server?.close();
  await Promise.all([backup?.close(), primary?.close(), refusing?.close()]);
});

describe('failover between two SMTP integrations', () => {
  it('shows every circuit closed before any send', async () => {
    expect(await circuit('primary')).toEqual({ state: 'closed', failures: 0, openedAt: null });
    expect(await circuit('backup')).toEqual({ state: 'closed', failures: 0, openedAt: null });
    const items = (await server.call('GET', '/v1/integrations')).body.items;
    expect(items.map((i: Json) => i.health)).toEqual(['healthy', 'healthy']);
  });

  it('primary refusing connections: every email arrives once via the backup, and the primary circuit opens', async () => {
    const eventIds = await sendEmails(30);
    const messages = await sentMessages(eventIds);
    expect(messages.map((m) => m.provider)).toEqual(Array(30).fill('backup'));
    // Nothing failed or was retried for the primary's outage: failover happened within the attempt.
    for (const m of messages) {
      expect(m.timeline.map((e: Json) => e.status)).not.toContain('failed');
      expect(m.timeline.at(-2).detail).toMatch(/^attempt 1 of 8 via backup \(passed over primary: /);
    }
    const mails = await backup.waitFor(30);
    expect(mails).toHaveLength(30);
    expect(new Set(messageIds(mails))).toEqual(new Set(messages.map((m) => m.messageId)));

    const open = await waitFor(async () => {
      const c = await circuit('primary');
      return c.state === 'open' ? c : null;
    }, 'the primary circuit to open');
    expect(open.failures).toBeGreaterThanOrEqual(5);
    expect(Date.parse(open.openedAt)).toBeGreaterThan(0);
    expect(await circuit('backup')).toMatchObject({ state: 'closed' });
    // Health reads the circuit: down while open, degraded once half-open (the cool-down is short).
    const listed = (await server.call('GET', '/v1/integrations')).body.items;
    const primary = listed.find((i: Json) => i.id === 'primary');
    expect(primary.health).toBe(primary.circuit.state === 'open' ? 'down' : 'degraded');
    expect(listed.find((i: Json) => i.id === 'backup').health).toBe('healthy');

    // While it is open, sends do not even try the primary: they pass it over at once. (Should the
    // cool-down have passed meanwhile, at most 3 half-open probes try it, and fail.)
    const later = await sentMessages(await sendEmails(10));
    const details = later.map((m) => m.timeline.at(-2).detail);
    expect(later.map((m) => m.provider)).toEqual(Array(10).fill('backup'));
    const passedOver = details.filter((d) =>
      /^attempt 1 of 8 via backup \(passed over primary: circuit (open|half-open, probes in flight)\)$/.test(
        d,
      ),
    );
    expect(passedOver.length).toBeGreaterThanOrEqual(7);
    await backup.waitFor(40);

    const metrics = await server.call('GET', '/metrics', undefined, { auth: null });
    expect(metrics.body).toMatch(
      /tidings_integration_circuit_state\{[^}]*integration="primary",state="open"\} 1/,
    );
    expect(metrics.body).toMatch(
      /tidings_integration_circuit_state\{[^}]*integration="primary",state="closed"\} 0/,
    );
  });

  it('after the primary recovers and the cool-down passes, traffic returns to it; nothing is sent twice', async () => {
    primary = await startFakeSmtp({ port: primaryPort });
    // One email at a time until a half-open probe reaches the recovered primary.
    await waitFor(
      async () => {
        await sentMessages(await sendEmails(1));
        return primary!.received.length > 0;
      },
      'a probe to reach the primary',
      COOL_DOWN_MS + 10_000,
      100,
    );
    await waitFor(async () => (await circuit('primary')).state === 'closed', 'the primary circuit to close');

    const eventIds = await sendEmails(20);
    const messages = await sentMessages(eventIds);
    expect(messages.map((m) => m.provider)).toEqual(Array(20).fill('primary'));

    // Every email went out exactly once, through one integration or the other.
    const all = [...messageIds(backup.received), ...messageIds(primary.received)];
    expect(all).toHaveLength(sent);
    expect(new Set(all).size).toBe(sent);
  });

  it('primary refusing our credentials (SMTP 535): the email goes via the backup, the message never fails', async () => {
    refusing = await startFakeSmtp({ refuseAuth: true });
    const changed = await smtpIntegration(
      'primary',
      1,
      { port: refusing.port, insecure: true },
      { credentials: { user: 'relay', pass: 'wrong' } },
    );
    expect(changed.status).toBe(200);
    const before = backup.received.length;
    const [eventId] = await sendEmails(1);
    // An integration change reaches the workers within the integration cache's lifetime.
    const [message] = await sentMessages([eventId!]);
    expect(message.provider).toBe('backup');
    expect(message.timeline.map((e: Json) => e.status)).not.toContain('failed');
    const via = message.timeline.find((e: Json) => /via backup/.test(e.detail ?? ''));
    expect(via?.detail).toMatch(/passed over primary: SMTP 535/);
    expect(refusing.commands.some((line) => /^AUTH\b/i.test(line))).toBe(true);
    expect(refusing.received).toHaveLength(0);
    await backup.waitFor(before + 1);
  });

  it('every integration down: sends retry on their schedule (no failure) and all go out once one recovers', async () => {
    const backupPort = backup.port;
    const delivered = [...backup.received];
    await backup.close();
    const eventIds = await sendEmails(10);
    // Both circuits open after enough refusals; the sends still try one integration per attempt.
    await waitFor(
      async () => (await circuit('backup')).state === 'open' && (await circuit('primary')).state === 'open',
      'both circuits open',
      20_000,
    );
    const waiting = await Promise.all(eventIds.map((id) => server.call('GET', `/v1/events/${id}`)));
    for (const view of waiting) {
      const message = view.body.messages.find((m: Json) => m.channel === 'email');
      expect(['queued', 'sending']).toContain(message.status);
    }

    backup = await startFakeSmtp({ port: backupPort });
    const messages = await sentMessages(eventIds);
    expect(messages.map((m) => m.provider)).toEqual(Array(10).fill('backup'));
    for (const m of messages) {
      const statuses = m.timeline.map((e: Json) => e.status);
      expect(statuses).not.toContain('failed');
      expect(statuses).not.toContain('dead');
    }
    const retried = messages.filter((m) =>
      m.timeline.some((e: Json) => /^no integration could take it \(.*\); retry in /.test(e.detail ?? '')),
    );
    expect(retried.length).toBe(10);
    const pastOpen = messages.filter((m) =>
      m.timeline.some((e: Json) => /no circuit lets it through: tried anyway\)$/.test(e.detail ?? '')),
    );
    expect(pastOpen.length).toBeGreaterThan(0);
    const mails = await backup.waitFor(10);
    expect(messageIds(mails).sort()).toEqual(messages.map((m) => m.messageId).sort());
    expect(messageIds([...delivered, ...mails]).length).toBe(
      new Set(messageIds([...delivered, ...mails])).size,
    );
  });
});
