import { describe, expect, it } from 'vitest';
import {
  FIRST_WAITING,
  nextWaiting,
  scrubEventPayload,
  waitingFor,
} from '../../../src/store/personal-data.ts';

describe('scrubEventPayload (erasure of an event naming the subscriber)', () => {
  it('replaces an inline entry stored by an earlier version (sealed copies of its fields) with the erased id', () => {
    const payload = {
      workflow: 'welcome',
      to: [
        {
          subscriberId: 'ada',
          email: 'pd1.k.iv.tag.body',
          phone: 'pd1.k.iv.tag.body2',
          locale: 'fr',
          timezone: 'Europe/Paris',
          data: { plan: 'pro' },
        },
      ],
      data: { orderId: 'o-1' },
    };
    const scrubbed = scrubEventPayload(payload, 'ada', 'erased:x');
    expect(scrubbed).toEqual({ workflow: 'welcome', to: [{ subscriberId: 'erased:x' }], data: {} });
    expect(JSON.stringify(scrubbed)).not.toMatch(/pd1\.|fr|Paris|pro|o-1/);
  });

  it("keeps the event's data and other recipients when the erased subscriber was one of several", () => {
    const payload = { workflow: 'w', to: ['bob', { subscriberId: 'ada', email: 'pd1.x' }], data: { n: 1 } };
    expect(scrubEventPayload(payload, 'ada', 'erased:x')).toEqual({
      workflow: 'w',
      to: ['bob', { subscriberId: 'erased:x' }],
      data: { n: 1 },
    });
    expect(scrubEventPayload(payload, 'carol', 'erased:y')).toBeNull();
  });

  it('empties the data once every recipient is erased, one after the other', () => {
    const [ada, bob] = ['erased:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'erased:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'];
    const payload = { workflow: 'w', to: ['ada', { subscriberId: 'bob' }], data: { thread: 'ada and bob' } };
    const first = scrubEventPayload(payload, 'ada', ada)!;
    expect(first.data).toEqual({ thread: 'ada and bob' });
    expect(scrubEventPayload(first, 'bob', bob)).toEqual({
      workflow: 'w',
      to: [{ subscriberId: ada }, { subscriberId: bob }],
      data: {},
    });
  });
});

describe('waitingFor (what waiting jobs still hold of an erased subscriber)', () => {
  it("takes a fanout's events, a deliver page's event only when the page names them (dropping them from it), their ready fallbacks and snoozes, and no other kind", () => {
    const jobs = [
      { id: 1, run_at: 5, kind: 'fanout', payload: '{"eventIds":["evt_a","evt_b"]}' },
      { id: 2, run_at: 5, kind: 'fanout', payload: { eventId: 'evt_c', cursor: { topic: 0, after: null } } },
      {
        id: 3,
        run_at: 6,
        kind: 'deliver',
        payload: '{"eventId":"evt_d","subscriberIds":["bob","ada"],"at":9}',
      },
      { id: 4, run_at: 6, kind: 'deliver', payload: '{"eventId":"evt_e","subscriberIds":["bob"]}' },
      { id: 5, run_at: 7, kind: 'send', payload: '{"messageId":"msg_1"}' },
      { id: 6, run_at: 7, kind: 'digest', payload: '{"digestId":"dig_1"}' },
      { id: 7, run_at: 8, kind: 'fanout', payload: '{"eventIds":["evt_a"]}' },
      { id: 8, run_at: 9, kind: 'fallback', payload: '{"eventId":"evt_f","subscriberId":"ada","step":1}' },
      { id: 9, run_at: 9, kind: 'fallback', payload: '{"eventId":"evt_f","subscriberId":"bob","step":1}' },
      { id: 10, run_at: 9, kind: 'inbox-wake', payload: '{"itemId":"msg_2","subscriberId":"ada","until":9}' },
      {
        id: 11,
        run_at: 9,
        kind: 'fallback',
        state: 'leased',
        payload: '{"eventId":"evt_g","subscriberId":"ada","step":1}',
      },
      // Status webhooks: about ada (one failed, quoting the provider), about bob, and a ping.
      {
        id: 12,
        run_at: 9,
        kind: 'endpoint_event',
        payload: JSON.stringify({
          endpointId: 'e1',
          webhookId: 'whmsg_1',
          event: {
            type: 'message.failed',
            timestamp: 't',
            data: { messageId: 'msg_3', subscriberId: 'ada', status: 'failed', error: '550 ada@example.com' },
          },
        }),
      },
      {
        id: 13,
        run_at: 9,
        kind: 'endpoint_event',
        state: 'leased',
        payload:
          '{"endpointId":"e1","webhookId":"w2","event":{"type":"subscriber.unsubscribed","data":{"subscriberId":"ada","channel":"email"}}}',
      },
      {
        id: 14,
        run_at: 9,
        kind: 'endpoint_event',
        payload:
          '{"endpointId":"e1","webhookId":"w3","event":{"type":"message.sent","data":{"subscriberId":"bob"}}}',
      },
      {
        id: 15,
        run_at: 9,
        kind: 'endpoint_event',
        payload: '{"endpointId":"e1","webhookId":"w4","event":{"type":"ping","data":{}}}',
      },
      // Held messages still to release, put off by the release throttle: ada's, and bob's.
      { id: 16, run_at: 9, kind: 'release-deferred', payload: '{"subscriberId":"ada"}' },
      { id: 17, run_at: 9, kind: 'release-deferred', payload: '{"subscriberId":"bob"}' },
      // Default-zone releases paging through subscribers: one stopped at ada (its cursor), one at bob.
      {
        id: 18,
        run_at: 9,
        kind: 'release-default-zone',
        payload: '{"from":"UTC","to":"Asia/Tokyo","after":"ada"}',
      },
      {
        id: 19,
        run_at: 9,
        kind: 'release-default-zone',
        payload: '{"from":"UTC","to":"Asia/Tokyo","after":"bob"}',
      },
    ].map((job) => ({ state: 'ready', ...job }));
    expect(waitingFor(jobs, 'ada', 'erased:h')).toEqual({
      eventIds: ['evt_a', 'evt_b', 'evt_c', 'evt_d'],
      rewrites: [
        { id: 3, payload: { eventId: 'evt_d', subscriberIds: ['bob'], at: 9 } },
        {
          id: 12,
          payload: {
            endpointId: 'e1',
            webhookId: 'whmsg_1',
            event: {
              type: 'message.failed',
              timestamp: 't',
              data: { messageId: 'msg_3', subscriberId: 'erased:h', status: 'failed' },
            },
          },
        },
        {
          id: 13,
          payload: {
            endpointId: 'e1',
            webhookId: 'w2',
            event: { type: 'subscriber.unsubscribed', data: { subscriberId: 'erased:h', channel: 'email' } },
          },
        },
        { id: 18, payload: { from: 'UTC', to: 'Asia/Tokyo', after: null } },
      ],
      drops: [8, 10, 16],
    });
  });

  it('goes on after the last job of a full page, else at the next lane, and stops after the last lane', () => {
    const rows = [
      { id: 8, run_at: 100, kind: 'send', payload: '{}' },
      { id: 3, run_at: 200, kind: 'send', payload: '{}' },
    ].map((job) => ({ state: 'ready', ...job }));
    expect(nextWaiting(FIRST_WAITING, rows, 2)).toEqual({ lane: 'critical', runAt: 200, id: 3 });
    expect(nextWaiting(FIRST_WAITING, rows, 3)).toEqual({ lane: 'high', runAt: -1, id: 0 });
    expect(nextWaiting({ lane: 'bulk', runAt: 5, id: 9 }, [], 3)).toBeNull();
  });
});
