import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longestStall } from '../helpers/event-loop.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * A workflow PUT checks every ICU message of its `messages` catalogue on the API thread. Found by
 * the hostile-input sweep: a catalogue within the limits (50 locales of up to 500 messages) fits
 * in a megabyte as 16,650 short plural messages, and parsing them in one block held the event
 * loop — every other tenant's requests — for 0.5–0.8 s; a locale over the key limit was parsed
 * whole before being refused. The messages are now parsed with the event loop given back between
 * them, and a locale over the limit is refused unparsed.
 */
describe('workflow PUT: checking the message catalogue holds no one else up', () => {
  let server: TestServer;
  const message = '{n,plural,one{#{g,select,m{a}other{b}}}other{#}}';
  const steps = [{ channel: 'in_app', template: { title: 't', body: 'b' } }];

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  it('takes a megabyte of messages, answering other requests meanwhile', async () => {
    const languages =
      'aa ab af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd'.split(
        ' ',
      );
    const keys = Array.from({ length: 333 }, (_, k) => [`k${k}`, message]);
    const messages = Object.fromEntries(languages.map((tag) => [tag, Object.fromEntries(keys)]));
    const stall = await longestStall(async () => {
      const answer = await server.call('PUT', '/v1/workflows/catalogue', { channels: steps, messages });
      expect(answer.status, JSON.stringify(answer.body.error)).toBe(200);
    });
    // Parsed in one block, they held it 0.7–1 s (70–130 ms now, most of it reading the body).
    expect(stall).toBeLessThan(250);
  });

  it('refuses a locale over the key limit without parsing its messages (400 naming it)', async () => {
    const en = Object.fromEntries(Array.from({ length: 8_000 }, (_, k) => [`k${k}`, message]));
    const stall = await longestStall(async () => {
      const answer = await server.call('PUT', '/v1/workflows/crowded', {
        channels: steps,
        messages: { en },
      });
      expect(answer.status).toBe(400);
      expect(answer.body.error.details).toEqual([{ path: 'messages.en', message: 'at most 500 messages' }]);
    });
    // Parsed before being refused, they held it 0.7–1 s (60–80 ms now: reading the body).
    expect(stall).toBeLessThan(250);
    expect((await server.call('GET', '/v1/workflows/crowded')).status).toBe(404);
  });
});
