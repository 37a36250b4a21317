import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { classifySendGridAnswer } from '../../../src/channels/email/sendgrid.ts';
import { classifySesAnswer } from '../../../src/channels/email/ses.ts';
import { type ProviderAnswer, requestProvider } from '../../../src/channels/http.ts';
import { neverConnected } from '../../../src/channels/never-connected.ts';
import type { SendOutcome } from '../../../src/channels/port.ts';
import { classifyTwilioError } from '../../../src/channels/sms/twilio.ts';
import { closedPort, loopbackContext } from '../../fakes/outbound.ts';

const answer = (
  status: number,
  body: unknown = {},
  headers: Record<string, string> = {},
): ProviderAnswer => ({
  status,
  headers,
  body: JSON.stringify(body),
});

/** 'integration' = retryable with integrationFailed: the send fails over, the message is not at fault. */
const verdict = (outcome: SendOutcome) =>
  outcome.kind === 'retryable' && outcome.integrationFailed ? 'integration' : outcome.kind;

describe('HTTP providers: our credentials refused → the integration is broken, not the message', () => {
  it.each([
    [
      'SendGrid 401 (API key refused)',
      classifySendGridAnswer(answer(401, { errors: [{ message: 'bad key' }] }), 0),
      'integration',
    ],
    ['SendGrid 403 (sender not verified)', classifySendGridAnswer(answer(403), 0), 'integration'],
    ['SendGrid 400 (validation)', classifySendGridAnswer(answer(400), 0), 'permanent'],
    ['SendGrid 503', classifySendGridAnswer(answer(503), 0), 'retryable'],
    [
      'Twilio 401 / 20003',
      classifyTwilioError(answer(401, { code: 20003, message: 'Authenticate' }), 0),
      'integration',
    ],
    ['Twilio 20003 on another status', classifyTwilioError(answer(400, { code: 20003 }), 0), 'integration'],
    ['Twilio 21211 (bad number)', classifyTwilioError(answer(400, { code: 21211 }), 0), 'bad_address'],
    ['Twilio 21606 (sender cannot send)', classifyTwilioError(answer(400, { code: 21606 }), 0), 'permanent'],
    [
      'SES 403 SignatureDoesNotMatch',
      classifySesAnswer(answer(403, { __type: 'SignatureDoesNotMatch' }), 0),
      'integration',
    ],
    [
      'SES 400 AccountSuspendedException',
      classifySesAnswer(answer(400, {}, { 'x-amzn-errortype': 'AccountSuspendedException:http://x' }), 0),
      'integration',
    ],
    [
      'SES 400 MessageRejected',
      classifySesAnswer(answer(400, { __type: 'MessageRejected' }), 0),
      'permanent',
    ],
    ['SES 429', classifySesAnswer(answer(429), 0), 'retryable'],
  ])('%s → %s', (_name, outcome, expected) => {
    expect(verdict(outcome)).toBe(expected);
  });

  it('a provider host that refuses connections is a broken integration', async () => {
    const origin = new URL(`http://127.0.0.1:${await closedPort()}`);
    const result = await requestProvider(loopbackContext(), origin, {
      method: 'POST',
      path: '/',
      headers: {},
    });
    expect(result).toMatchObject({ kind: 'retryable', integrationFailed: true });
  });

  it('a connection that was made and then dropped is not: the request may have arrived', async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const origin = new URL(`http://127.0.0.1:${port}`);
      const result = await requestProvider(loopbackContext(), origin, {
        method: 'POST',
        path: '/',
        headers: {},
      });
      expect(result).toEqual({ kind: 'retryable', reason: expect.any(String) });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('requestProvider: answers that break off', () => {
  it('a 2xx whose body breaks off is still an answer (the provider took the message; a retry would send it twice)', async () => {
    const server = createServer((socket) => {
      socket.once('data', () => {
        socket.write(
          'HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"sid":"SM',
        );
        setImmediate(() => socket.destroy());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const result = await requestProvider(loopbackContext(), new URL(`http://127.0.0.1:${port}`), {
        method: 'POST',
        path: '/',
        headers: {},
        body: '{}',
      });
      expect(result).toMatchObject({ status: 201, body: '{"sid":"SM' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("a subscriber's host that refuses connections is not a broken integration", async () => {
    const origin = new URL(`http://127.0.0.1:${await closedPort()}`);
    const result = await requestProvider(loopbackContext(), origin, {
      method: 'POST',
      path: '/',
      headers: {},
      who: 'the push service',
      hostIsTheIntegrations: false,
    });
    expect(result).toEqual({
      kind: 'retryable',
      reason: 'no response from the push service (connection failed or timed out)',
    });
  });
});

describe('neverConnected', () => {
  it.each([
    ['ECONNREFUSED', Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), true],
    [
      'wrapped in a cause',
      new Error('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ENOTFOUND' }) }),
      true,
    ],
    ['syscall connect', Object.assign(new Error('x'), { code: 'EWHATEVER', syscall: 'connect' }), true],
    [
      "the guard's connect deadline",
      Object.assign(new Error('connect ETIMEDOUT h:1'), { code: 'ETIMEDOUT' }),
      true,
    ],
    ['a socket timeout once connected', Object.assign(new Error('Timeout'), { code: 'ETIMEDOUT' }), false],
    ['ECONNRESET', Object.assign(new Error('x'), { code: 'ECONNRESET', syscall: 'read' }), false],
    ['an abort', new DOMException('aborted', 'TimeoutError'), false],
    ['not an error', 'boom', false],
  ])('%s → %s', (_name, error, expected) => {
    expect(neverConnected(error)).toBe(expected);
  });
});
