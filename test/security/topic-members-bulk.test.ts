import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * `POST /v1/topics/{key}/subscribers` takes up to 10,000 ids. Found by the hostile-input sweep:
 * they were written in one SQLite transaction on the API thread (creating each missing
 * subscriber too), so 10,000 ids of 100 characters held every other tenant's requests for
 * 0.3–0.55 s. They are now written a chunk at a time, the event loop given back in between.
 *
 * Timing the stall was too noisy on a loaded machine; instead another caller reads the topic
 * again and again while the ids are written. Written in one go, the topic can only be seen empty
 * or full; written in chunks with other requests served in between, some read lands between two.
 */
describe('Hostile input: 10,000 topic members in one request', () => {
  let server: TestServer;
  const ids = Array.from({ length: 10_000 }, (_, i) => `${String(i).padStart(5, '0')}-${'m'.repeat(94)}`);
  const body = JSON.stringify({ subscriberIds: ids });

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  /**
   * Posts `body` to the topic `key` while another caller reads the topic back to back; answers
   * the POST's answer and every member count read while it ran. `onPartial` runs once, on the
   * first count between none and all.
   */
  async function postWhileReading(key: string, onPartial?: () => Promise<void>) {
    const counts: number[] = [];
    let done = false;
    const post = server.call('POST', `/v1/topics/${key}/subscribers`, body).finally(() => {
      done = true;
    });
    const reader = (async () => {
      while (!done) {
        const read = await server.call('GET', `/v1/topics/${key}`);
        if (read.status !== 200) break;
        counts.push(read.body.subscriberCount);
        if (onPartial && read.body.subscriberCount > 0 && read.body.subscriberCount < ids.length) {
          await onPartial();
          onPartial = undefined;
        }
      }
    })();
    const answer = await post;
    await reader;
    return { answer, counts };
  }

  it('other requests are served while the members are written', async () => {
    expect((await server.call('PUT', '/v1/topics/crowd', {})).status).toBe(200);
    const { answer, counts } = await postWhileReading('crowd');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ key: 'crowd', added: ids.length, subscriberCount: ids.length });
    // Held for the whole write, no read could see part of it.
    expect(counts.some((n) => n > 0 && n < ids.length)).toBe(true);

    // Adds are idempotent: the same request again adds nothing (as a retry after a failure would
    // add only what the first try had not).
    const again = await server.call('POST', '/v1/topics/crowd/subscribers', body);
    expect(again.body).toEqual({ key: 'crowd', added: 0, subscriberCount: ids.length });
  }, 30_000);

  it('a topic deleted while its members are written keeps none of them', async () => {
    expect((await server.call('PUT', '/v1/topics/fleeting', {})).status).toBe(200);
    let deleted = 0;
    const { answer } = await postWhileReading('fleeting', async () => {
      deleted = (await server.call('DELETE', '/v1/topics/fleeting')).status;
    });
    expect(deleted).toBe(204);
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('not_found');
    // Made again, the topic starts empty: no chunk written after the delete left members behind.
    const again = await server.call('PUT', '/v1/topics/fleeting', {});
    expect(again.body.subscriberCount).toBe(0);
  }, 30_000);
});
