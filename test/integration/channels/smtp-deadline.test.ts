import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSmtpProvider } from '../../../src/channels/email/smtp.ts';
import { sendDeadlineReason } from '../../../src/channels/email/smtp-errors.ts';
import type { ChannelProvider, OutboundMessage, ProviderContext } from '../../../src/channels/port.ts';
import { loopbackContext } from '../../fakes/outbound.ts';
import { type SmtpTarpit, startSmtpTarpit } from '../../fakes/smtp-tarpit.ts';

// The tarpit holds each reply just under the inactivity timeout, so that timeout never fires; a
// session (greeting, EHLO, MAIL, RCPT, DATA, dot: six replies) would take 4.2 s, past the deadline.
const DELAY_MS = 700;
const TIMEOUTS = { inactivityMs: 1_000, sendMs: 1_500 };

function emailMessage(n: number): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: `msg_01DEADLINE${n}`,
    eventId: 'evt_01DEADLINE',
    workflow: 'welcome',
    channel: 'email',
    subscriber: { id: `sub_${n}`, email: `user${n}@example.test`, phone: null, locale: null, timezone: null },
    content: { subject: 'Hello', text: 'A message that should not wait minutes for a slow server.' },
    data: {},
  };
}

/** The loopback guard, keeping every socket it hands the adapter so a test can see it closed. */
function recordingContext(): ProviderContext & { sockets: Socket[]; close(): Promise<void> } {
  const guard = loopbackContext().outbound;
  const sockets: Socket[] = [];
  return {
    sockets,
    outbound: {
      policy: guard.policy,
      get http() {
        return guard.http;
      },
      connect: async (host, port, timeoutMs) => {
        const socket = await guard.connect(host, port, timeoutMs);
        sockets.push(socket);
        return socket;
      },
      checkHost: (host) => guard.checkHost(host),
      close: () => guard.close(),
    },
    close: () => guard.close(),
  };
}

describe('smtp provider against a tarpit: every send ends at its deadline', () => {
  const context = recordingContext();
  let tarpit: SmtpTarpit;
  let provider: ChannelProvider;

  beforeEach(async () => {
    tarpit = await startSmtpTarpit({ delayMs: DELAY_MS });
    provider = createSmtpProvider(
      { host: tarpit.host, port: tarpit.port, from: 'Tidings <noreply@tidings.test>' },
      {},
      context,
      TIMEOUTS,
    );
  });
  afterEach(async () => {
    await provider.close?.();
    await tarpit.close();
    context.sockets.length = 0;
  });
  afterAll(() => context.close());

  it('abandons a send at the deadline as retryable, destroys its connection, and the next send goes through', async () => {
    const started = performance.now();
    const outcome = await provider.send(emailMessage(1));
    const elapsed = performance.now() - started;

    // Retryable, but not a broken integration: the server took the connection and may have the message.
    expect(outcome).toEqual({ kind: 'retryable', reason: sendDeadlineReason(TIMEOUTS.sendMs) });
    expect(outcome.kind === 'retryable' && outcome.reason).toBe(
      'the SMTP server did not finish the send within 1.5 s',
    );
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUTS.sendMs - 50);
    expect(elapsed).toBeLessThan(TIMEOUTS.sendMs + 1_000);
    // Destroyed, not half-closed and left waiting for a server that never closes its side.
    expect(context.sockets).toHaveLength(1);
    expect(context.sockets.every((socket) => socket.destroyed)).toBe(true);
    await tarpit.allHungUp();
    expect(tarpit.received).toHaveLength(0);

    // The pool is not wedged: once the server answers promptly, a send opens a fresh connection.
    tarpit.delayMs = 0;
    const next = await provider.send(emailMessage(2));
    expect(next).toMatchObject({ kind: 'accepted', detail: 'SMTP 250 2.0.0' });
    expect(tarpit.received).toHaveLength(1);
    expect(tarpit.received[0]).toContain('Message-ID: <msg_01DEADLINE2@tidings.test>');
    expect(tarpit.connections).toBe(2);
  });

  it('bounds sends waiting for a pooled connection by the same deadline, and leaves the pool usable', async () => {
    // Seven sends for a pool of five connections: two wait in the pool's queue for one to free up.
    const started = performance.now();
    const outcomes = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => provider.send(emailMessage(n))));
    const elapsed = performance.now() - started;

    expect(outcomes).toEqual(
      outcomes.map(() => ({ kind: 'retryable', reason: sendDeadlineReason(TIMEOUTS.sendMs) })),
    );
    expect(elapsed).toBeLessThan(TIMEOUTS.sendMs + 1_000);
    // An abandoned send is not requeued onto a new connection (the queued two may have had one
    // of their own before the deadline, when the first five were closed a millisecond earlier).
    expect(tarpit.connections).toBeLessThanOrEqual(7);
    await tarpit.allHungUp();
    expect(context.sockets.every((socket) => socket.destroyed)).toBe(true);

    tarpit.delayMs = 0;
    expect(await provider.send(emailMessage(8))).toMatchObject({ kind: 'accepted' });
    expect(tarpit.received).toHaveLength(1);
  });
});
