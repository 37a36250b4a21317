import { describe, expect, it } from 'vitest';
import { sendgridEvents } from '../../../src/feedback/sendgrid-events.ts';
import { sesEvents } from '../../../src/feedback/ses-events.ts';
import { smsKeyword, twilioEvents } from '../../../src/feedback/twilio-events.ts';
import { plan } from '../../../src/policy/plan.ts';
import type { SuppressionRecord } from '../../../src/shared/model.ts';

describe('SMS keywords', () => {
  it.each([
    ['STOP', 'stop'],
    [' stop ', 'stop'],
    ['StopAll', 'stop'],
    ['unsubscribe', 'stop'],
    ['CANCEL', 'stop'],
    ['end', 'stop'],
    ['quit', 'stop'],
    ['START', 'start'],
    ['yes', 'start'],
    ['unstop', 'start'],
    ['stop please', null],
    ['hello', null],
    ['', null],
  ] as const)('%j → %s', (body, expected) => {
    expect(smsKeyword(body, undefined)).toBe(expected);
  });

  it("prefers Twilio's OptOutType", () => {
    expect(smsKeyword('arrêt', 'STOP')).toBe('stop');
    expect(smsKeyword('STOP', 'START')).toBe('start');
  });
});

describe('provider events', () => {
  it('Twilio: intermediate statuses say nothing; failures carry the error code', () => {
    expect(twilioEvents(new URLSearchParams({ MessageSid: 'SM1', MessageStatus: 'sent' }))).toEqual([]);
    const [failed] = twilioEvents(
      new URLSearchParams({ MessageSid: 'SM1', MessageStatus: 'failed', ErrorCode: '30007', To: '+1555' }),
    );
    expect(failed).toMatchObject({
      ref: { providerMessageId: 'SM1', channel: 'sms' },
      change: { status: 'failed', reason: 'provider_rejected', error: 'Twilio 30007' },
      addresses: [],
    });
    const [soft] = twilioEvents(
      new URLSearchParams({
        MessageSid: 'SM2',
        MessageStatus: 'undelivered',
        ErrorCode: '30003',
        To: '+1555',
      }),
    );
    expect(soft!.addresses).toEqual([expect.objectContaining({ effect: 'soft_bounce', address: '+1555' })]);
    expect(twilioEvents(new URLSearchParams({ From: '+1555', Body: 'hello' }))).toEqual([]);
  });

  it('Twilio: an inbound text is applied once by its SID; a START without a trustworthy SID is dropped', () => {
    const sid = `SM${'ab12'.repeat(8)}`;
    const inbound = (over: Record<string, string>) =>
      twilioEvents(new URLSearchParams({ From: '+1555', Body: 'START', ...over }));
    expect(inbound({ MessageSid: sid, SmsSid: sid, SmsMessageSid: sid })[0]!.once).toBe(`twilio:${sid}`);
    // A boundary moved into the SID, a SID its copies disagree with, or none at all.
    expect(inbound({ MessageSid: `${sid}NumMedia0` })).toEqual([]);
    expect(inbound({ MessageSid: sid, SmsSid: `SM${'cd34'.repeat(8)}` })).toEqual([]);
    expect(inbound({})).toEqual([]);
    // STOP is applied all the same (without a key, so a repeat applies again: still "stopped").
    const [stop] = inbound({ Body: 'STOP' });
    expect(stop).toMatchObject({ addresses: [expect.objectContaining({ effect: 'stop' })] });
    expect(stop!.once).toBeUndefined();
  });

  it('SES: bounce kinds, complaints, and bodies that are not SES notifications', () => {
    const [bounce] = sesEvents(
      JSON.stringify({
        eventType: 'Bounce',
        bounce: { bounceType: 'Undetermined', bouncedRecipients: [{ emailAddress: 'a@x.test' }, {}] },
        mail: { messageId: 'ses-1' },
      }),
    );
    expect(bounce).toMatchObject({
      ref: { providerMessageId: 'ses-1', channel: 'email' },
      change: { status: 'bounced', reason: 'provider_rejected' },
      addresses: [{ channel: 'email', address: 'a@x.test', effect: 'soft_bounce' }],
    });
    expect(sesEvents('not json')).toEqual([]);
    expect(sesEvents(JSON.stringify({ notificationType: 'Bounce' }))).toEqual([]);
    expect(sesEvents(JSON.stringify({ notificationType: 'Send', mail: { messageId: 'm' } }))).toEqual([]);
  });

  it("keeps no address from the provider's words: bounce diagnostics and reasons lose their emails and numbers", () => {
    const [bounce] = sesEvents(
      JSON.stringify({
        eventType: 'Bounce',
        bounce: {
          bounceType: 'Permanent',
          bouncedRecipients: [
            {
              emailAddress: 'ada.l@x.test',
              diagnosticCode:
                'smtp; 550 5.1.1 <Ada.L@x.test>: Recipient address rejected (call +44 7700 900123)',
            },
          ],
        },
        mail: { messageId: 'ses-2' },
      }),
    );
    const words = JSON.stringify([bounce?.change, bounce?.addresses.map((a) => a.detail)]);
    expect(words).toContain('550 5.1.1 <<address>>: Recipient address rejected (call <number>)');
    expect(words).not.toMatch(/ada\.l|7700/i);
    // The address itself is still handed over, for the suppression's keyed hash.
    expect(bounce?.addresses[0]?.address).toBe('ada.l@x.test');
    const [dropped] =
      sendgridEvents(
        JSON.stringify([
          {
            event: 'bounce',
            reason: '550 no mailbox bob@x.test',
            email: 'bob@x.test',
            tidings_message_id: 'm',
          },
        ]),
      ) ?? [];
    expect(JSON.stringify(dropped?.change)).not.toContain('bob@x.test');
  });

  it('SendGrid: matched by custom arg or sg_message_id prefix; drops and blocks classified', () => {
    const events = sendgridEvents(
      JSON.stringify([
        { event: 'dropped', reason: 'Bounced Address', email: 'a@x.test', sg_message_id: 'abc.filter0001' },
        { event: 'bounce', type: 'blocked', email: 'b@x.test', tidings_message_id: 'msg_1' },
        { event: 'processed', sg_message_id: 'abc.filter0001' },
        { event: 'delivered' },
        'not an event',
      ]),
    );
    expect(events).toEqual([
      expect.objectContaining({
        ref: { providerMessageId: 'abc', channel: 'email' },
        change: expect.objectContaining({ status: 'failed', reason: 'bad_address' }),
        addresses: [expect.objectContaining({ effect: 'hard_bounce', address: 'a@x.test' })],
      }),
      expect.objectContaining({
        ref: { messageId: 'msg_1' },
        change: expect.objectContaining({ status: 'bounced', reason: 'provider_rejected' }),
        addresses: [expect.objectContaining({ effect: 'soft_bounce' })],
      }),
    ]);
    // Address-changing events apply once per sg_event_id (SendGrid repeats events); others need no key.
    const keyed = sendgridEvents(
      JSON.stringify([
        { event: 'spamreport', email: 'a@x.test', tidings_message_id: 'm', sg_event_id: 'ZXZ0LTE=' },
        { event: 'delivered', tidings_message_id: 'm', sg_event_id: 'ZXZ0LTI=' },
        { event: 'spamreport', email: 'a@x.test', tidings_message_id: 'm', sg_event_id: 'no spaces allowed' },
        { event: 'spamreport', email: 'a@x.test', tidings_message_id: 'm', sg_event_id: 7 },
      ]),
    );
    expect(keyed?.map((event) => event.once)).toEqual(['sendgrid:ZXZ0LTE=', undefined, undefined, undefined]);
    expect(sendgridEvents('{}')).toBeNull();
    expect(sendgridEvents('nope')).toBeNull();
  });
});

describe('plan with a suppression', () => {
  const base = {
    channel: 'email' as const,
    lane: 'normal' as const,
    workflow: {
      key: 'reset',
      category: 'security',
      quietHours: 'respect' as const,
      defaultPreferences: null,
    },
    subscriber: { email: 'a@x.test', phone: null, timezone: null },
    preferences: null,
    defaultTimezone: 'UTC',
    now: 0,
  };
  const suppression = (reason: SuppressionRecord['reason']): SuppressionRecord => ({
    tenantId: 't',
    channel: 'email',
    addressHash: 'h',
    reason,
    detail: 'why',
    createdAt: 0,
  });

  it('suppresses even mandatory categories: bounces as bad_address, complaints and STOP as opted_out', () => {
    expect(plan({ ...base, suppression: suppression('hard_bounce') })).toMatchObject({
      kind: 'suppress',
      reason: 'bad_address',
    });
    expect(plan({ ...base, suppression: suppression('soft_bounces') })).toMatchObject({
      reason: 'bad_address',
    });
    expect(plan({ ...base, suppression: suppression('complaint') })).toMatchObject({ reason: 'opted_out' });
    expect(plan({ ...base, suppression: suppression('sms_stop') })).toMatchObject({ reason: 'opted_out' });
    expect(plan({ ...base, suppression: null })).toEqual({ kind: 'send' });
    // A missing address is still the first thing said.
    expect(
      plan({
        ...base,
        subscriber: { ...base.subscriber, email: null },
        suppression: suppression('hard_bounce'),
      }),
    ).toMatchObject({ reason: 'no_address' });
  });
});
