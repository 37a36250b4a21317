import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// A number JSON cannot keep (past ±(2^53 − 1), 1e400, or nearer 0 than 1e-20) is a 400 naming its field, whose message
// says what that field accepts: "send it as a string" only where a string is accepted.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await server.call('PUT', '/v1/workflows/alert', {
    channels: [{ channel: 'in_app', template: { title: 'x' } }],
  });
});

afterAll(async () => {
  await server?.close();
});

const workflow = (rule: string) =>
  `{"channels":[{"channel":"in_app","template":{"title":"x"}}],"rateLimit":[${rule}]}`;

describe('numbers JSON cannot keep', () => {
  it.each([
    [
      "a workflow's rateLimit[i].limit (an integer from 1)",
      'PUT',
      '/v1/workflows/big',
      workflow('{"per":"subscriber","limit":9007199254740993,"window":"1h"}'),
      'rateLimit[0].limit',
      'must be an integer from 1 to 9007199254740991',
    ],
    [
      "the settings' dailyCap.perSubscriber (an integer from 1 to 100000)",
      'PATCH',
      '/v1/settings',
      '{"dailyCap":{"perSubscriber":1e400}}',
      'dailyCap.perSubscriber',
      'must be an integer from 1 to 100000',
    ],
    [
      "a token's expiresIn (a duration string or 1 to 604800 seconds)",
      'POST',
      '/v1/subscribers/big_1/token',
      '{"expiresIn":-9007199254740993}',
      'expiresIn',
      'must be an integer from 1 to 604800',
    ],
    [
      "a rate rule's window (a duration string: digits alone are refused)",
      'PUT',
      '/v1/workflows/big',
      workflow('{"per":"subscriber","limit":1,"window":9007199254740993}'),
      'rateLimit[0].window',
      'is an integer beyond ±9007199254740991 that would be rounded',
    ],
  ])(
    '%s: says what the field accepts, not to send a string',
    async (_, method, route, body, path, message) => {
      const res = await server.call(method, route, body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details).toEqual([{ path, message }]);
    },
  );

  it("the advice to send a string is right where it is given: an event's free-form data", async () => {
    const big = await server.call(
      'POST',
      '/v1/events',
      '{"workflow":"alert","to":["big_2"],"data":{"id":9007199254740993}}',
    );
    expect(big.status).toBe(400);
    expect(big.body.error.details).toEqual([
      {
        path: 'data.id',
        message: 'is an integer beyond ±9007199254740991 that would be rounded; send it as a string',
      },
    ]);
    const asText = await server.call('POST', '/v1/events', {
      workflow: 'alert',
      to: ['big_2'],
      data: { id: '9007199254740993' },
    });
    expect(asText.status).toBe(202);
    // An inline subscriber's data is free-form too.
    const inline = await server.call(
      'POST',
      '/v1/events',
      '{"workflow":"alert","to":[{"subscriberId":"big_3","data":{"n":[1e400]}}]}',
    );
    expect(inline.status).toBe(400);
    expect(inline.body.error.details).toEqual([
      { path: 'to[0].data.n[0]', message: 'is a number too large for JSON to keep; send it as a string' },
    ]);
    // PostgreSQL's jsonb would read 1e-300 back as 302 characters: a megabyte of them, tens of
    // megabytes in every message.
    const tiny = await server.call(
      'POST',
      '/v1/events',
      '{"workflow":"alert","to":["big_4"],"data":{"x":[1e-300]}}',
    );
    expect(tiny.status).toBe(400);
    expect(tiny.body.error.details).toEqual([
      {
        path: 'data.x[0]',
        message:
          'is a number nearer 0 than 1e-20 (stored, it would be written out in full); send it as a string',
      },
    ]);
    // As for a workflow's rule: that field refuses a string, so it is not advised.
    expect(
      (
        await server.call(
          'PUT',
          '/v1/workflows/big',
          workflow('{"per":"subscriber","limit":"9007199254740993","window":"1h"}'),
        )
      ).status,
    ).toBe(400);
    expect((await server.call('GET', '/v1/workflows/big')).status).toBe(404);
  });
});
