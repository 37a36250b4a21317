import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ChannelProvider,
  DeviceDeactivation,
  OutboundMessage,
  SendOutcome,
} from '../../src/channels/port.ts';

/**
 * The one provider conformance suite: every adapter runs it against its fake (a real local server
 * speaking the provider's protocol). It checks that an accepted send carries the provider's
 * headers, auth and body, and that each documented error answer maps onto the closed SendOutcome
 * (device deactivated / retry / permanent / bad address). Usage, in
 * `test/channels/<provider>.conformance.test.ts`:
 *
 * ```ts
 * describeConformance({ provider: 'twilio', startFake: startTwilioFake, build: (fake) => …, … });
 * ```
 */

/** A request as the fake received it. */
export interface FakeRequest {
  method: string;
  /** Path and query string. */
  path: string;
  /** Lower-cased header names (HTTP/2 pseudo-headers included for HTTP/2 fakes). */
  headers: Record<string, string>;
  body: string;
}

/** What every fake offers the suite: its requests, and a way to close it. */
export interface ConformanceFake {
  readonly requests: FakeRequest[];
  close(): Promise<void>;
}

/** What a documented error answer must become. */
export interface ExpectedOutcome {
  kind: SendOutcome['kind'];
  /** bad_address answers that name a dead device token. */
  deactivate?: DeviceDeactivation;
  /** retryable answers carrying the provider's Retry-After. */
  retryAfterMs?: number;
  /** retryable answers that say the integration itself is broken (failover, src/pipeline/failover.ts). */
  integrationFailed?: boolean;
}

export interface ConformanceCase<F extends ConformanceFake> {
  /** The integration provider name (`apns`, `twilio`…). */
  provider: string;
  startFake(): Promise<F>;
  /** Builds the adapter pointed at the fake (config.endpoint), as the catalog would. */
  build(fake: F): ChannelProvider | Promise<ChannelProvider>;
  /** A message this provider can send (with a device for push and web push). */
  message(): OutboundMessage;
  /** Checks what the fake received for an accepted send: method, path, headers, auth, body. */
  checkAccepted(request: FakeRequest, outcome: SendOutcome): void;
  /** Each documented error class: how to make the fake answer it, and what it maps onto. */
  errors: { name: string; arrange(fake: F): void; expect: ExpectedOutcome }[];
}

export function describeConformance<F extends ConformanceFake>(spec: ConformanceCase<F>): void {
  describe(`${spec.provider} conformance`, () => {
    let fake: F;
    let provider: ChannelProvider;

    beforeAll(async () => {
      fake = await spec.startFake();
      provider = await spec.build(fake);
    });
    afterAll(async () => {
      await provider?.close?.();
      await fake?.close();
    });

    it('an accepted send carries the provider headers, auth and body', async () => {
      const before = fake.requests.length;
      const outcome = await provider.send(spec.message());
      expect(outcome.kind).toBe('accepted');
      const request = fake.requests.at(-1);
      expect(fake.requests.length).toBeGreaterThan(before);
      spec.checkAccepted(request!, outcome);
    });

    it.each(spec.errors.map((error) => [error.name, error] as const))('maps %s', async (_name, error) => {
      error.arrange(fake);
      const outcome = await provider.send(spec.message());
      expect(outcome.kind).toBe(error.expect.kind);
      if (error.expect.deactivate !== undefined)
        expect(outcome).toMatchObject({ deactivate: error.expect.deactivate });
      if (error.expect.retryAfterMs !== undefined)
        expect(outcome).toMatchObject({ retryAfterMs: error.expect.retryAfterMs });
      if (error.expect.integrationFailed !== undefined)
        expect(outcome.kind === 'retryable' && outcome.integrationFailed === true).toBe(
          error.expect.integrationFailed,
        );
    });
  });
}
