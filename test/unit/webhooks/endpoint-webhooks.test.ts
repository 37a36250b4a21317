import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  ENDPOINT_MAX_ATTEMPTS,
  ENDPOINT_RETRY_DELAYS_MS,
  endpointRetryDelay,
} from '../../../src/policy/endpoint-retries.ts';
import { MESSAGE_STATUSES } from '../../../src/shared/model.ts';
import { messageEventType } from '../../../src/webhooks/events.ts';
import {
  newEndpointSecrets,
  ROTATION_OVERLAP_MS,
  rotateEndpointSecrets,
  signatureHeader,
} from '../../../src/webhooks/secrets.ts';

// The example published with the Standard Webhooks specification.
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('endpoint signatures', () => {
  it("match the specification's published example", () => {
    const header = signatureHeader(
      { secrets: [{ secret: SPEC.secret, until: null }] },
      SPEC.id,
      SPEC.timestamp,
      SPEC.body,
      0,
    );
    expect(header).toBe(SPEC.signature);
  });

  it('carry both secrets during the 24 h overlap of a rotation, then only the new one', () => {
    const created = newEndpointSecrets();
    const now = 1_700_000_000_000;
    const rotated = rotateEndpointSecrets(created.secrets, now);
    expect(rotated.secrets.secrets).toEqual([
      { secret: rotated.secret, until: null },
      { secret: created.secret, until: now + ROTATION_OVERLAP_MS },
    ]);
    const at = Math.floor(now / 1000);
    const during = signatureHeader(rotated.secrets, 'whmsg_1', at, '{}', now + ROTATION_OVERLAP_MS - 1);
    const headers = { 'webhook-id': 'whmsg_1', 'webhook-timestamp': String(at), 'webhook-signature': during };
    expect(during.split(' ')).toHaveLength(2);
    // The library checks the timestamp against its clock: verify each signature at the time it was made.
    const verifyAt = (secret: string, header: string) =>
      new Webhook(secret).verify('{}', {
        ...headers,
        'webhook-timestamp': String(at),
        'webhook-signature': header,
      });
    const realNow = Date.now;
    Date.now = () => now;
    try {
      expect(verifyAt(created.secret, during)).toEqual({});
      expect(verifyAt(rotated.secret, during)).toEqual({});
      const after = signatureHeader(rotated.secrets, 'whmsg_1', at, '{}', now + ROTATION_OVERLAP_MS);
      expect(after.split(' ')).toHaveLength(1);
      expect(() => verifyAt(created.secret, after)).toThrow();
      expect(verifyAt(rotated.secret, after)).toEqual({});
    } finally {
      Date.now = realNow;
    }
  });
});

describe('endpoint retry schedule', () => {
  it('backs off from 5 s to 8 h (jitter only shortens) and gives up within a day', () => {
    const delays = ENDPOINT_RETRY_DELAYS_MS.map((_, i) => endpointRetryDelay(i + 1, undefined, () => 0));
    expect(delays).toEqual([...ENDPOINT_RETRY_DELAYS_MS]);
    const total = delays.reduce((sum, d) => sum! + d!, 0)!;
    expect(total).toBeLessThan(24 * 3600_000);
    expect(total).toBe((23 * 3600 + 42 * 60 + 35) * 1000);
    expect(endpointRetryDelay(ENDPOINT_MAX_ATTEMPTS, undefined)).toBeNull();
    expect(endpointRetryDelay(1, undefined, () => 1)).toBe(4_500);
  });

  it("honours a receiver's Retry-After up to an hour", () => {
    expect(endpointRetryDelay(3, 1_000)).toBe(1_000);
    expect(endpointRetryDelay(3, 2 * 3600_000, () => 0)).toBe(ENDPOINT_RETRY_DELAYS_MS[2]);
    expect(endpointRetryDelay(ENDPOINT_MAX_ATTEMPTS, 1_000)).toBeNull();
  });
});

describe('message events', () => {
  it('name exactly the statuses receivers hear about', () => {
    const named = MESSAGE_STATUSES.filter((s) => messageEventType(s) !== null);
    expect(named.sort()).toEqual(['bounced', 'clicked', 'dead', 'delivered', 'failed', 'read', 'sent']);
    expect(messageEventType('bounced')).toBe('message.bounced');
  });
});
