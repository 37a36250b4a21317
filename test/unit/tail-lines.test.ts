import { describe, expect, it } from 'vitest';
import { formatLine, StatusChanges } from '../../src/cli/tail.ts';
import { paintFor } from '../../src/cli/terminal.ts';
import type { MessageChange } from '../../src/store/port.ts';

const START = Date.UTC(2026, 0, 1, 12);
const at = (ms: number) => new Date(START + ms).toISOString();

function change(over: Partial<MessageChange>): MessageChange {
  return {
    tenantId: 'default',
    id: 'msg_1',
    eventId: 'evt_1',
    subscriberId: 'ada',
    channel: 'email',
    workflow: 'w',
    status: 'queued',
    reason: null,
    lastError: null,
    timeline: [
      { at: at(10), status: 'accepted' },
      { at: at(10), status: 'queued', detail: 'normal lane' },
    ],
    createdAt: START + 10,
    updatedAt: START + 10,
    ...over,
  };
}

const statuses = (lines: { status: string }[]) => lines.map((l) => l.status);

describe('tail: status lines', () => {
  it('prints an escalation, which a timeline records though it is no status of its own', () => {
    const changes = new StatusChanges(START);
    const escalated = change({
      status: 'sent',
      updatedAt: START + 40,
      timeline: [
        ...change({}).timeline,
        { at: at(30), status: 'sent', detail: 'sandbox' },
        { at: at(40), status: 'escalated', detail: 'not read within 1h: sms' },
      ],
    });
    expect(statuses(changes.lines(escalated))).toContain('escalated');
  });

  it('prints each status the timeline records once, in order, however many a poll missed', () => {
    const changes = new StatusChanges(START);
    expect(statuses(changes.lines(change({})))).toEqual(['queued']);
    // Read again unchanged (the overlap of the next poll): nothing.
    expect(changes.lines(change({}))).toEqual([]);
    const sent = change({
      status: 'sent',
      updatedAt: START + 30,
      timeline: [
        ...change({}).timeline,
        { at: at(20), status: 'sending' },
        { at: at(30), status: 'sent', detail: 'sandbox' },
      ],
    });
    const lines = changes.lines(sent);
    expect(statuses(lines)).toEqual(['sending', 'sent']);
    expect(lines[1]).toMatchObject({
      at: START + 30,
      reason: 'sandbox',
      subscriberId: 'ada',
      channel: 'email',
    });
    expect(changes.lines(sent)).toEqual([]);
  });

  it('prints a status changed without a timeline entry (an inbox read), with its reason code', () => {
    const changes = new StatusChanges(START);
    const item = change({
      channel: 'in_app',
      status: 'delivered',
      timeline: [{ at: at(5), status: 'delivered', detail: 'inbox item written' }],
    });
    expect(statuses(changes.lines(item))).toEqual(['delivered']);
    expect(statuses(changes.lines({ ...item, status: 'read', updatedAt: START + 50 }))).toEqual(['read']);
    const failed = change({
      id: 'msg_2',
      status: 'failed',
      reason: 'bad_address',
      timeline: [{ at: at(7), status: 'failed', detail: '550 no such user' }],
    });
    expect(changes.lines(failed)[0]!.reason).toBe('bad_address: 550 no such user');
  });

  it('leaves out what happened before it started', () => {
    const changes = new StatusChanges(START);
    const before = change({
      status: 'sent',
      createdAt: START - 2000,
      updatedAt: START - 1000,
      timeline: [
        { at: at(-2000), status: 'queued' },
        { at: at(-1000), status: 'sent' },
      ],
    });
    expect(changes.lines(before)).toEqual([]);
    const later = { ...before, status: 'delivered' as const, updatedAt: START + 5 };
    later.timeline = [...before.timeline, { at: at(5), status: 'delivered', detail: 'receipt' }];
    expect(statuses(changes.lines(later))).toEqual(['delivered']);
  });

  it('formats one line: time, message, subscriber, channel, status, reason; colours only when asked', () => {
    const line = {
      at: START,
      tenantId: 'default',
      messageId: 'msg_1',
      subscriberId: 'ada',
      channel: 'email',
      status: 'failed',
      reason: 'bad_address',
    };
    const plain = formatLine(line, paintFor({ isTTY: false }, {}), false);
    expect(plain).toBe('2026-01-01T12:00:00.000Z  msg_1  ada  email    failed        bad_address');
    expect(formatLine(line, paintFor({ isTTY: false }, {}), true)).toContain('  default  msg_1');
    const coloured = formatLine(line, paintFor({ isTTY: true }, {}), false);
    expect(coloured).toContain('\u001b[31mfailed');
    expect(formatLine(line, paintFor({ isTTY: true }, { NO_COLOR: '1' }), false)).toBe(plain);
  });

  it("prints a tenant's or provider's control characters as escapes, never to the terminal", () => {
    const hostile = {
      at: START,
      tenantId: 'default',
      messageId: 'msg_2',
      subscriberId: 'eve\u001b]0;pwned\u0007',
      channel: 'sms',
      status: 'failed',
      reason: '550 no\u001b[2J\r\nfake line',
    };
    const printed = formatLine(hostile, paintFor({ isTTY: true }, {}), false);
    expect(printed).toContain('eve\\u001b]0;pwned\\u0007');
    expect(printed).toContain('550 no\\u001b[2J\\u000d\\u000afake line');
    // Only the CLI's own colour sequences remain.
    const esc = String.fromCharCode(0x1b);
    const uncoloured = printed.replaceAll(new RegExp(`${esc}\\[\\d+m`, 'g'), '');
    expect([...uncoloured].filter((c) => c.charCodeAt(0) < 0x20)).toEqual([]);
  });
});
