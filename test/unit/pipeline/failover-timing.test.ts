import { describe, expect, it } from 'vitest';
import type { ChannelProvider, SendOutcome } from '../../../src/channels/port.ts';
import { sendWithFailover } from '../../../src/pipeline/failover.ts';
import { DEFAULT_BREAKER } from '../../../src/providers/circuit-breaker.ts';
import { Circuits } from '../../../src/providers/circuits.ts';
import type { ResolvedProvider } from '../../../src/providers/registry.ts';

const TENANT = 'ten_1';
const SLOW_MS = DEFAULT_BREAKER.slowCallMs;

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function via(provider: ChannelProvider): ResolvedProvider {
  return { integrationId: 'relay', providerName: 'smtp', provider, perSecond: null };
}

const noSlots = {
  reserveSendSlot: () => Promise.reject(new Error('no rate limit is set: never reserved')),
};

/**
 * One attempt through `sendWithFailover` whose call spends `queuedMs` in the adapter's own queue
 * (announced with leftQueue unless `silent`) and then `callMs` with the provider.
 */
async function attempt(
  circuits: Circuits,
  clock: ReturnType<typeof manualClock>,
  queuedMs: number,
  callMs: number,
  silent = false,
) {
  const accepted: SendOutcome = { kind: 'accepted' };
  const provider: ChannelProvider = { name: 'smtp', send: () => Promise.resolve(accepted) };
  return sendWithFailover({
    circuits,
    store: noSlots,
    tenantId: TENANT,
    candidates: [via(provider)],
    lastTried: null,
    isRetry: false,
    slotOf: undefined,
    begin: () => Promise.resolve(true),
    send: async (_via, leftQueue) => {
      clock.advance(queuedMs);
      if (!silent) leftQueue();
      clock.advance(callMs);
      return accepted;
    },
    now: clock.now,
  });
}

describe('failover: the breaker times the provider, not the adapter’s queue', () => {
  it('records a call from when it left the adapter’s queue: a long wait on a healthy server never opens the circuit', async () => {
    const clock = manualClock();
    const circuits = new Circuits({ putCircuit: () => Promise.resolve() });
    for (let i = 0; i < DEFAULT_BREAKER.window; i++) {
      const result = await attempt(circuits, clock, 2 * SLOW_MS, 300);
      expect(result.kind).toBe('answered');
    }
    const breaker = circuits.state(TENANT, 'relay');
    expect(breaker.state).toBe('closed');
    expect(breaker.calls.map((call) => call.latencyMs)).toEqual(breaker.calls.map(() => 300));
  });

  it('still counts a provider slow once the send left the queue', async () => {
    const clock = manualClock();
    const circuits = new Circuits({ putCircuit: () => Promise.resolve() });
    for (let i = 0; i < DEFAULT_BREAKER.window; i++) await attempt(circuits, clock, SLOW_MS, 2 * SLOW_MS);
    expect(circuits.state(TENANT, 'relay').state).toBe('open');
  });

  it('times from the call when the adapter never says it queued', async () => {
    const clock = manualClock();
    const circuits = new Circuits({ putCircuit: () => Promise.resolve() });
    for (let i = 0; i < DEFAULT_BREAKER.window; i++) await attempt(circuits, clock, 2 * SLOW_MS, 300, true);
    expect(circuits.state(TENANT, 'relay').state).toBe('open');
  });
});

describe('failover: a recipient the provider cannot take now is no failure of the provider', () => {
  /** One attempt whose provider answers `outcome`. */
  const answered = (circuits: Circuits, outcome: SendOutcome) => {
    const provider: ChannelProvider = { name: 'smtp', send: () => Promise.resolve(outcome) };
    return sendWithFailover({
      circuits,
      store: noSlots,
      tenantId: TENANT,
      candidates: [via(provider)],
      lastTried: null,
      isRetry: false,
      slotOf: undefined,
      begin: () => Promise.resolve(true),
      send: () => Promise.resolve(outcome),
    });
  };

  it('keeps the circuit closed through a window of full mailboxes, and opens it for as many server errors', async () => {
    const full = new Circuits({ putCircuit: () => Promise.resolve() });
    const mailboxFull: SendOutcome = {
      kind: 'retryable',
      reason: '452 4.2.2 mailbox full',
      recipientOnly: true,
    };
    for (let i = 0; i < DEFAULT_BREAKER.window; i++) {
      const result = await answered(full, mailboxFull);
      expect(result).toMatchObject({ kind: 'answered', outcome: { kind: 'retryable' } });
    }
    expect(full.state(TENANT, 'relay').state).toBe('closed');

    const failing = new Circuits({ putCircuit: () => Promise.resolve() });
    const serverError: SendOutcome = { kind: 'retryable', reason: '451 4.3.0 local error' };
    for (let i = 0; i < DEFAULT_BREAKER.window; i++) await answered(failing, serverError);
    expect(failing.state(TENANT, 'relay').state).toBe('open');
  });
});
