import { describe, expect, it } from 'vitest';
import { scrubEventPayload } from '../../../src/store/personal-data.ts';

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
});
