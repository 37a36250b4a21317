import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLOSED_BEFORE_SEND, createSmtpProvider, SMTP_CONNECTIONS } from '../../src/channels/email/smtp.ts';
import { sendDeadlineReason } from '../../src/channels/email/smtp-errors.ts';
import type { ChannelProvider, OutboundMessage, ProviderContext } from '../../src/channels/port.ts';
import { loopbackContext } from '../fakes/outbound.ts';
import { type SmtpTarpit, startSmtpTarpit } from '../fakes/smtp-tarpit.ts';
import { waitFor } from '../helpers/wait.ts';

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

  it('gives a send waiting for a pooled connection its own full deadline once it has one, and leaves the pool usable', async () => {
    // Seven sends for a pool of five connections: two wait their turn in the adapter.
    expect(SMTP_CONNECTIONS).toBe(5);
    const started = performance.now();
    const ended: number[] = [];
    const outcomes = await Promise.all(
      [1, 2, 3, 4, 5, 6, 7].map(async (n) => {
        const outcome = await provider.send(emailMessage(n));
        ended.push(performance.now() - started);
        return outcome;
      }),
    );

    expect(outcomes).toEqual(
      outcomes.map(() => ({ kind: 'retryable', reason: sendDeadlineReason(TIMEOUTS.sendMs) })),
    );
    // The first five meet their deadline together; the waiting two start then and meet theirs
    // one deadline later, not at the first (their wait was not the server's doing).
    const [firstFive, lastTwo] = [ended.slice(0, 5), ended.slice(5)];
    for (const at of firstFive) {
      expect(at).toBeGreaterThanOrEqual(TIMEOUTS.sendMs - 50);
      expect(at).toBeLessThan(TIMEOUTS.sendMs + 1_000);
    }
    for (const at of lastTwo) {
      expect(at).toBeGreaterThanOrEqual(2 * TIMEOUTS.sendMs - 50);
      expect(at).toBeLessThan(2 * TIMEOUTS.sendMs + 1_000);
    }
    // Each abandoned send's connection is closed and never reused: five, then two fresh ones.
    expect(tarpit.connections).toBe(7);
    await tarpit.allHungUp();
    expect(context.sockets.every((socket) => socket.destroyed)).toBe(true);

    tarpit.delayMs = 0;
    expect(await provider.send(emailMessage(8))).toMatchObject({ kind: 'accepted' });
    expect(tarpit.received).toHaveLength(1);
  });

  it('ends the sends waiting for a connection at once when the provider is closed', async () => {
    const single = createSmtpProvider(
      { host: tarpit.host, port: tarpit.port, from: 'Tidings <noreply@tidings.test>' },
      {},
      context,
      { ...TIMEOUTS, connections: 1 },
    );
    const underWay = single.send(emailMessage(1));
    const waiting = [2, 3].map((n) => single.send(emailMessage(n)));
    // The first send holds the one connection, the server sitting on its greeting.
    await waitFor(() => tarpit.connections === 1, 'the first send to connect');
    const started = performance.now();
    await single.close?.();

    // Settled long before the send under way could free the one connection (at its deadline).
    expect(await Promise.all(waiting)).toEqual([
      { kind: 'retryable', reason: CLOSED_BEFORE_SEND },
      { kind: 'retryable', reason: CLOSED_BEFORE_SEND },
    ]);
    expect(performance.now() - started).toBeLessThan(TIMEOUTS.sendMs / 2);
    // A send after close() is refused the same way, without connecting.
    expect(await single.send(emailMessage(4))).toEqual({ kind: 'retryable', reason: CLOSED_BEFORE_SEND });
    // The send under way is left to end on its own terms: here, at its deadline.
    expect(await underWay).toEqual({ kind: 'retryable', reason: sendDeadlineReason(TIMEOUTS.sendMs) });
    expect(tarpit.connections).toBe(1);
  });
});

describe('smtp provider against a slow but healthy relay: a burst beyond the pool never times out', () => {
  const context = loopbackContext();
  afterAll(() => context.outbound.close());

  it('sends every message of a burst whose queue outlasts the deadline, none retryable', async () => {
    // ~75 ms a reply: a send takes ~300 ms on an open connection (MAIL, RCPT, DATA, the dot) and
    // ~450 ms on a new one (greeting and EHLO first). 14 sends over 2 connections take ~2.25 s, so
    // the last ones wait longer than the 1.5 s deadline before they reach the server at all.
    const relay = await startSmtpTarpit({ delayMs: 75 });
    const connections = 2;
    const sends = 14;
    const provider = createSmtpProvider(
      { host: relay.host, port: relay.port, from: 'Tidings <noreply@tidings.test>' },
      {},
      context,
      { ...TIMEOUTS, connections },
    );
    try {
      const started = performance.now();
      /** Per send: how long it waited in the adapter's queue, and how long it then took. */
      const timings: { queuedMs: number; sendingMs: number }[] = [];
      const outcomes = await Promise.all(
        Array.from({ length: sends }, async (_, i) => {
          const called = performance.now();
          let left = Number.NaN;
          const outcome = await provider.send({
            ...emailMessage(i + 1),
            leftQueue: () => {
              left = performance.now();
            },
          });
          timings.push({ queuedMs: left - called, sendingMs: performance.now() - left });
          return outcome;
        }),
      );
      const elapsed = performance.now() - started;

      expect(outcomes.map((outcome) => outcome.kind)).toEqual(outcomes.map(() => 'accepted'));
      // Each send said when it left the queue (the breaker times the server from then): the tail
      // waited longer than a deadline, and none took the server that long.
      expect(Math.max(...timings.map((t) => t.queuedMs))).toBeGreaterThan(TIMEOUTS.sendMs);
      for (const t of timings) expect(t.sendingMs).toBeLessThan(TIMEOUTS.sendMs);
      // The burst did outlast a deadline: without the adapter's own queue, its tail would not.
      expect(elapsed).toBeGreaterThan(TIMEOUTS.sendMs);
      expect(relay.received).toHaveLength(sends);
      // No connection was abandoned, and the pool never opened more than its size.
      expect(relay.connections).toBe(connections);
    } finally {
      await provider.close?.();
      await relay.close();
    }
  });
});
