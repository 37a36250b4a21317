import { describe, expect, it } from 'vitest';
import {
  decideFallback,
  fallbackDueAt,
  fallbackStepAfter,
  type Receipt,
  receiptEffect,
  receiptMovesFrom,
} from '../../../src/policy/fallback.ts';
import type { MessageRecord, MessageStatus, WorkflowChannelStep } from '../../../src/shared/model.ts';
import { messageRecord } from '../../helpers/message-record.ts';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

// As API.md's example: in-app last, so its `delivered` (written at once) is no earlier channel's receipt.
const STEPS: WorkflowChannelStep[] = [
  { channel: 'push', template: { body: 'b' } },
  { channel: 'sms', template: { body: 'b' }, fallback: { after: '2s', unless: 'delivered' } },
  { channel: 'email', template: { text: 'b' }, fallback: { after: '1m', unless: 'read' } },
  { channel: 'in_app', template: { title: 't' } },
];

let n = 0;
function message(
  channel: MessageRecord['channel'],
  status: MessageStatus,
  timeline: [number, string][],
  over: Partial<MessageRecord> = {},
): MessageRecord {
  n += 1;
  return messageRecord({
    tenantId: 't',
    id: `msg_${n}`,
    eventId: 'evt_1',
    channel,
    workflow: 'w',
    status,
    provider: null,
    timeline: timeline.map(([ms, s]) => ({ at: at(ms), status: s })),
    eventAt: T0,
    createdAt: T0,
    updatedAt: T0,
    ...over,
  });
}

describe('receipts', () => {
  it.each<[MessageStatus, Receipt, 'forward' | 'same' | 'refused']>([
    ['sent', 'delivered', 'forward'],
    ['sending', 'delivered', 'forward'],
    ['queued', 'read', 'forward'],
    ['delivered', 'read', 'forward'],
    ['delivered', 'clicked', 'forward'],
    ['read', 'clicked', 'forward'],
    ['delivered', 'delivered', 'same'],
    ['read', 'delivered', 'same'],
    ['clicked', 'read', 'same'],
    ['failed', 'delivered', 'refused'],
    ['bounced', 'read', 'refused'],
    ['dead', 'clicked', 'refused'],
    ['cancelled', 'delivered', 'refused'],
    ['suppressed', 'delivered', 'refused'],
    ['rate_limited', 'read', 'refused'],
  ])('%s + %s receipt → %s', (status, receipt, effect) => {
    expect(receiptEffect(status, receipt)).toBe(effect);
  });

  it('moves forward only from lower statuses', () => {
    expect(receiptMovesFrom('delivered')).toEqual(['queued', 'deferred', 'sending', 'sent']);
    expect(receiptMovesFrom('clicked')).toEqual([
      'queued',
      'deferred',
      'sending',
      'sent',
      'delivered',
      'read',
    ]);
  });
});

describe('when a fallback step is due', () => {
  const sms = STEPS[1]!;
  it.each<[MessageStatus, number | null]>([
    ['sent', T0 + 2000],
    ['delivered', T0 + 2000],
    ['failed', T0],
    ['dead', T0],
    ['suppressed', T0],
    ['bounced', T0],
    ['queued', null],
    ['sending', null],
    ['deferred', null],
  ])('after the previous step became %s: %s', (status, due) => {
    expect(fallbackDueAt(sms, status, T0)).toBe(due);
  });

  it('finds the fallback step after a channel, if there is one', () => {
    expect(fallbackStepAfter(STEPS, 'push')).toBe(1);
    expect(fallbackStepAfter(STEPS, 'sms')).toBe(2);
    expect(fallbackStepAfter(STEPS, 'email')).toBeNull();
    expect(fallbackStepAfter(STEPS, 'in_app')).toBeNull();
    expect(fallbackStepAfter(STEPS, 'chat')).toBeNull();
  });
});

describe('deciding a fallback step when its job fires', () => {
  const inApp = () => message('in_app', 'read', [[0, 'delivered']]);

  it('waits while the previous step has not settled', () => {
    const push = message('push', 'queued', [[0, 'queued']]);
    expect(decideFallback(STEPS, 1, [inApp(), push], T0 + 5000)).toEqual({ kind: 'wait' });
  });

  it('runs again `after` the earliest send of the previous step', () => {
    const pushes = [
      message('push', 'sent', [[1000, 'sent']]),
      message('push', 'sending', [[0, 'sending']], { deviceId: 'd2' }),
    ];
    expect(decideFallback(STEPS, 1, [inApp(), ...pushes], T0 + 1500)).toEqual({
      kind: 'later',
      at: T0 + 3000,
    });
  });

  it('sends when no earlier channel reached `unless` in time (a later in-app step does not count)', () => {
    const push = message('push', 'sent', [[1000, 'sent']]);
    const decision = decideFallback(STEPS, 1, [inApp(), push], T0 + 3000);
    expect(decision).toEqual({
      kind: 'send',
      detail: 'fallback: no delivered receipt for push within 2s of its send',
      escalated: [push.id],
    });
  });

  it('stops, naming the receipt, when any earlier channel reached `unless`', () => {
    const push = message('push', 'delivered', [
      [1000, 'sent'],
      [1500, 'delivered'],
    ]);
    const decision = decideFallback(STEPS, 1, [inApp(), push], T0 + 3000);
    expect(decision.kind).toBe('stop');
    expect(decision.kind === 'stop' && decision.detail).toContain(
      `push message ${push.id} reached delivered`,
    );
    // Any earlier channel, not only the previous one: the push read stops the email (unless: read).
    const read = message('push', 'read', [[1000, 'sent']]);
    const sms = message('sms', 'sent', [[3000, 'sent']]);
    const email = decideFallback(STEPS, 2, [inApp(), read, sms], T0 + 70_000);
    expect(email.kind === 'stop' && email.detail).toContain(`push message ${read.id} reached read`);
  });

  it('sends at once when the previous step did not go out, or had no message', () => {
    const failed = message('push', 'failed', [[500, 'failed']]);
    expect(decideFallback(STEPS, 1, [inApp(), failed], T0 + 600)).toMatchObject({
      kind: 'send',
      detail: 'fallback: push did not go out (failed)',
      escalated: [failed.id],
    });
    expect(decideFallback(STEPS, 1, [inApp()], T0 + 600)).toMatchObject({
      kind: 'send',
      detail: 'fallback: no push message (step skipped)',
      escalated: [],
    });
  });

  it('still respects a receipt when the previous step failed', () => {
    const read = message('push', 'read', [[500, 'sent']]);
    expect(decideFallback(STEPS, 2, [read, message('sms', 'failed', [])], T0).kind).toBe('stop');
  });

  it('stops the rest of a chain stopped by a receipt', () => {
    const push = message('push', 'delivered', [[1000, 'sent']]);
    const sms = message('sms', 'cancelled', [[3000, 'cancelled']], { reason: 'receipt' });
    sms.timeline.at(-1)!.detail = 'not sent: push message msg_x reached delivered';
    expect(decideFallback(STEPS, 2, [push, sms], T0 + 4000)).toEqual({
      kind: 'stop',
      detail: 'not sent: push message msg_x reached delivered',
    });
  });

  it('reports an existing fallback message, escalating only when it is under way', () => {
    const push = message('push', 'sent', [[1000, 'sent']]);
    const queued = message('sms', 'queued', []);
    expect(decideFallback(STEPS, 1, [push, queued], T0 + 9000)).toEqual({
      kind: 'exists',
      escalated: [push.id],
      fallbacks: [queued],
    });
    const suppressed = message('sms', 'suppressed', []);
    expect(decideFallback(STEPS, 1, [push, suppressed], T0 + 9000)).toEqual({
      kind: 'exists',
      escalated: [],
      fallbacks: [],
    });
  });
});
