import { readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Compile } from 'typebox/compile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReference } from '../../scripts/api-reference/render.ts';
import { ERROR_CODES } from '../../src/api/errors.ts';
import { OPERATIONS } from '../../src/api/openapi/operations.ts';
import { MAX_SUBSCRIBER_DATA_BYTES } from '../../src/ingest/subscriber-data.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * /openapi.json tells the truth: it is a valid OpenAPI document, it describes every route and
 * nothing else, and the real server answers every request example with a documented status and
 * a body its schema accepts (src/api/openapi/operations.ts).
 */

// biome-ignore lint/suspicious/noExplicitAny: the document is walked field by field
type Json = any;

let server: TestServer;
let document: Json;
/** The same document with every $ref replaced by what it points at. */
let resolved: Json;

beforeAll(async () => {
  server = await startTestServer({ TIDINGS_OPERATOR_KEY: 'op_'.padEnd(40, 'k') });
  document = (await server.call('GET', '/openapi.json', undefined, { auth: null })).body;
  resolved = await SwaggerParser.dereference(structuredClone(document));
});
afterAll(() => server?.close());

function operationOf(key: string): Json {
  const [method, path] = key.split(' ') as [string, string];
  return resolved.paths[path]?.[method.toLowerCase()];
}

function schemaCheck(schema: Json, value: unknown): string[] {
  const check = Compile(schema);
  return check.Check(value) ? [] : [...check.Errors(value)].map((e) => `${e.instancePath} ${e.message}`);
}

/** The answer's status is documented for the operation, and its body fits that status's schema. */
function expectDocumented(key: string, answer: { status: number; body: unknown; headers: Headers }): void {
  const response = operationOf(key)?.responses?.[String(answer.status)];
  expect(response, `${key} answered ${answer.status}, which is not documented`).toBeDefined();
  if ((answer.headers.get('content-type') ?? '').startsWith('text/html')) {
    expect(response.content?.['text/html'], `${key} ${answer.status} is a page`).toBeDefined();
    return;
  }
  const json = response.content?.['application/json'];
  if (!json) {
    expect(answer.headers.get('content-type') ?? '', `${key} ${answer.status}`).not.toMatch(/json/);
    return;
  }
  expect(schemaCheck(json.schema, answer.body), `${key} ${answer.status} body`).toEqual([]);
  if (answer.status >= 400) {
    const code = (answer.body as { error: { code: string } }).error.code;
    expect(Object.keys(json.examples), `${key} ${answer.status} codes`).toContain(code);
  }
}

function fill(path: string, params: Record<string, string> = {}): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? name));
}

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    await expect(SwaggerParser.validate(structuredClone(document))).resolves.toBeDefined();
    expect(document.openapi).toBe('3.1.0');
  });

  it('describes every route, and only routes that exist', () => {
    const served: string[] = [];
    for (const [path, item] of Object.entries<Json>(document.paths))
      for (const method of Object.keys(item)) served.push(`${method.toUpperCase()} ${path}`);
    expect(served.filter((key) => !OPERATIONS[key])).toEqual([]);
    expect(Object.keys(OPERATIONS).filter((key) => !served.includes(key))).toEqual([]);
  });

  // API.md ("Operations"): /openapi.json documents every route; it left out itself.
  it('documents the open routes API.md names, /openapi.json itself included, as needing no key', () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/inbox.js']) {
      const operation = document.paths[path]?.get;
      expect(operation, `GET ${path}`).toBeDefined();
      expect(operation.security, `GET ${path}`).toEqual([]);
    }
    expect(operationOf('GET /openapi.json').responses['200'].content['application/json']).toBeDefined();
  });

  it('documents real statuses, the catalogue error schema and examples that fit their schemas', () => {
    expect(operationOf('POST /v1/events').responses['202']).toBeDefined();
    for (const key of Object.keys(OPERATIONS)) {
      const { responses } = operationOf(key);
      // A success, a redirect that is one (a form post answered 303 back to its page, a tracked
      // link's 302 to its target), or a WebSocket's 101 Switching Protocols.
      expect(
        Object.keys(responses).some(
          (s) =>
            s.startsWith('2') ||
            s === '303' ||
            (s === '302' && key === 'GET /v1/t/c/{token}') ||
            (s === '101' && key === 'GET /v1/inbox/ws'),
        ),
        key,
      ).toBe(true);
      expect(responses['200']?.description, key).not.toBe('Default Response');
      for (const [status, response] of Object.entries<Json>(responses)) {
        const json = response.content?.['application/json'];
        if (json?.example !== undefined)
          expect(schemaCheck(json.schema, json.example), `${key} ${status} example`).toEqual([]);
        if (Number(status) < 400) continue;
        // A refusal is the catalogue's JSON error, an HTML page (the preference page's), or both.
        expect(json ?? response.content?.['text/html'], `${key} ${status} body`).toBeDefined();
        for (const [code, example] of Object.entries<Json>(json?.examples ?? {})) {
          expect(ERROR_CODES[code as keyof typeof ERROR_CODES], `${key}: ${code}`).toBe(Number(status));
          expect(schemaCheck(json.schema, example.value), `${key} ${code}`).toEqual([]);
        }
      }
    }
  });

  it('checks bodies for real: a body missing fields does not fit', () => {
    const event = operationOf('GET /v1/events/{eventId}').responses['200'].content['application/json'].schema;
    expect(schemaCheck(event, { eventId: 'evt_1' })).not.toEqual([]);
  });

  it('is what docs/reference.md documents (run `npm run docs:api` after changing a route)', () => {
    const committed = readFileSync(new URL('../../docs/reference.md', import.meta.url), 'utf8');
    expect(committed === renderReference(document), 'docs/reference.md is stale: run npm run docs:api').toBe(
      true,
    );
  });

  it("states the limit on a subscriber's data, which no JSON Schema keyword can", () => {
    const body = (key: string) => operationOf(key).requestBody.content['application/json'].schema;
    const inline = body('POST /v1/events').properties.to.items.anyOf.find(
      (s: Json) => s.properties?.subscriberId,
    );
    const preview = body('POST /v1/workflows/{key}/preview').properties.subscriber;
    for (const data of [
      body('PUT /v1/subscribers/{subscriberId}').properties.data,
      inline.properties.data,
      preview.properties.data,
    ]) {
      expect(data['x-max-json-bytes']).toBe(MAX_SUBSCRIBER_DATA_BYTES);
      expect(data.description).toContain(`at most ${MAX_SUBSCRIBER_DATA_BYTES} bytes as JSON`);
    }
  });

  it("documents a bulk route's items as the single route's body, though each is checked on its own", () => {
    const body = (key: string) => operationOf(key).requestBody.content['application/json'].schema;
    const event = body('POST /v1/events/bulk').properties.events.items;
    expect(event.required).toEqual(expect.arrayContaining(['workflow', 'to']));
    expect(Object.keys(event.properties)).toEqual(Object.keys(body('POST /v1/events').properties));
    const subscriber = body('POST /v1/subscribers/bulk').properties.subscribers.items;
    expect(subscriber.required).toEqual(['subscriberId']);
    expect(subscriber.properties.data['x-max-json-bytes']).toBe(MAX_SUBSCRIBER_DATA_BYTES);
  });

  it('names who may call: open routes need no key, the others a bearer credential', () => {
    expect(document.paths['/healthz'].get.security).toEqual([]);
    expect(document.paths['/v1/providers/{integrationId}/webhook'].post.security).toEqual([]);
    expect(document.paths['/v1/events'].post.security).toBeUndefined();
    expect(document.security).toEqual([{ bearer: [] }]);
    expect(document.paths['/v1/inbox'].get['x-tidings-auth']).toBe('subscriber');
    expect(document.paths['/v1/tenants'].post['x-tidings-auth']).toBe('operator');
    expect(document.paths['/v1/events'].post['x-tidings-auth']).toBe('server');
  });
});

describe('every request example, sent to the real server', () => {
  it('is answered with a documented status and a body that fits the documented schema', async () => {
    let sent = 0;
    const token = (await server.call('POST', '/v1/subscribers/ada/token', {})).body.token as string;
    // The erasure's example erases a subscriber of its own (an unknown id is a 404).
    await server.call('PUT', '/v1/subscribers/erased_example', {});
    for (const [key, doc] of Object.entries(OPERATIONS)) {
      if (doc.body === undefined && doc.params === undefined && doc.query === undefined) continue;
      const [method, path] = key.split(' ') as [string, string];
      const query = doc.query ? `?${new URLSearchParams(doc.query)}` : '';
      // The inbox routes take a subscriber token, not the server key.
      const auth = path.startsWith('/v1/inbox') ? { auth: token } : {};
      const answer = await server.call(method, fill(path, doc.params) + query, doc.body, auth);
      expect(answer.status, `${key}: ${JSON.stringify(answer.body)}`).toBeLessThan(300);
      expectDocumented(key, answer);
      sent++;
    }
    expect(sent).toBeGreaterThan(25);
  });
});

describe('answers without an example in the document', () => {
  it('fit the documented schemas too: events, messages, the inbox, errors', async () => {
    const call = async (key: string, route: string, body?: unknown, auth?: string) => {
      const answer = await server.call(key.split(' ')[0]!, route, body, auth ? { auth } : {});
      expectDocumented(key, answer);
      return answer;
    };
    await call(
      'PUT /v1/workflows/{key}',
      '/v1/workflows/welcome',
      OPERATIONS['PUT /v1/workflows/{key}']!.body,
    );
    const event = await call('POST /v1/events', '/v1/events', {
      workflow: 'welcome',
      to: [{ subscriberId: 'lin', email: 'lin@example.com' }],
      data: { name: 'Lin' },
      idempotencyKey: 'doc-lin',
    });
    expect(event.status).toBe(202);
    const again = await call('POST /v1/events', '/v1/events', {
      workflow: 'welcome',
      to: [{ subscriberId: 'lin', email: 'lin@example.com' }],
      data: { name: 'Lin' },
      idempotencyKey: 'doc-lin',
    });
    expect(again.status).toBe(200);
    const { eventId } = event.body;
    // Once delivered, the event carries its messages and their timelines.
    await waitFor(
      async () => (await server.call('GET', `/v1/events/${eventId}`)).body.status === 'completed',
      'the demo event to complete',
    );
    await call('GET /v1/events/{eventId}', `/v1/events/${eventId}`);
    const messages = await call('GET /v1/messages', `/v1/messages?eventId=${eventId}`);
    expect(messages.body.items).toHaveLength(2);
    await call('GET /v1/messages/{messageId}', `/v1/messages/${messages.body.items[0].messageId}`);
    await call('GET /v1/workflows', '/v1/workflows');
    await call('GET /v1/integrations', '/v1/integrations');
    await call('GET /v1/settings', '/v1/settings');
    await call('GET /v1/webhook-endpoints', '/v1/webhook-endpoints');
    await call('DELETE /v1/events/{eventId}', `/v1/events/${eventId}`);
    await call('GET /v1/dead-letters', '/v1/dead-letters');

    const token = (await call('POST /v1/subscribers/{subscriberId}/token', '/v1/subscribers/lin/token', {}))
      .body.token;
    const inbox = await call('GET /v1/inbox', '/v1/inbox', undefined, token);
    await call('GET /v1/inbox/unread-count', '/v1/inbox/unread-count?tabs=true', undefined, token);
    await call('POST /v1/inbox/read-all', '/v1/inbox/read-all', undefined, token);
    const item = inbox.body.items[0];
    expect(item.title).toBe('Welcome, Lin!');
    await call('POST /v1/inbox/{itemId}/unread', `/v1/inbox/${item.id}/unread`, undefined, token);
    await call('POST /v1/inbox/{itemId}/click', `/v1/inbox/${item.id}/click`, {}, token);
    await call(
      'POST /v1/inbox/{itemId}/snooze',
      `/v1/inbox/${item.id}/snooze`,
      {
        until: new Date(Date.now() + 3_600_000).toISOString(),
      },
      token,
    );
    await call('POST /v1/inbox/{itemId}/archive', `/v1/inbox/${item.id}/archive`, undefined, token);
    await call('GET /v1/sandbox/messages', '/v1/sandbox/messages');

    // Errors: each in the catalogue's shape, its code documented under its status.
    await call('GET /v1/events/{eventId}', '/v1/events/evt_missing');
    await call('POST /v1/events', '/v1/events', { workflow: 'nope', to: ['lin'] });
    await call('POST /v1/events', '/v1/events', {
      workflow: 'welcome',
      to: [{ subscriberId: 'x', email: 'no' }],
    });
    await call('GET /v1/settings', '/v1/settings', undefined, 'not-a-key-at-all-0000');
    await call('POST /v1/tenants', '/v1/tenants', { name: 'Acme' }, 'op_'.padEnd(40, 'k'));
  });

  it('a body refused before the route runs (JSON null, another media type) is documented on every route that reads one', async () => {
    const token = (await server.call('POST', '/v1/subscribers/ada/token', {})).body.token as string;
    let sent = 0;
    for (const [key, doc] of Object.entries(OPERATIONS)) {
      const [method, path] = key.split(' ') as [string, string];
      if (method === 'GET') continue;
      const auth = path.startsWith('/v1/inbox')
        ? token
        : path.startsWith('/v1/tenants')
          ? 'op_'.padEnd(40, 'k')
          : server.key;
      // Refused before the route runs: nothing is changed by these.
      const route = fill(path, doc.params);
      const nullBody = await server.call(method, route, 'null', { auth });
      expect(nullBody.status, `${key} null`).toBeGreaterThanOrEqual(400);
      expectDocumented(key, nullBody);
      const xml = await server.call(method, route, '<a/>', {
        auth,
        headers: { 'content-type': 'application/xml' },
      });
      expect(xml.status, `${key} xml`).toBeGreaterThanOrEqual(400);
      expectDocumented(key, xml);
      sent++;
    }
    expect(sent).toBeGreaterThan(40);
  });

  it('a receipt for a message that did not go out answers a documented 409', async () => {
    await server.call('PUT', '/v1/workflows/hushed', {
      paused: true,
      channels: [{ channel: 'in_app', template: { title: 'Hi', body: 'there' } }],
    });
    const { eventId } = (await server.call('POST', '/v1/events', { workflow: 'hushed', to: ['mo'] })).body;
    const message = await waitFor(async () => {
      const messages = (await server.call('GET', `/v1/messages?eventId=${eventId}`)).body.items;
      return messages[0]?.status === 'cancelled' ? messages[0] : undefined;
    }, 'the paused workflow’s message to be cancelled');
    const receipt = await server.call('POST', `/v1/messages/${message.messageId}/receipt`, {
      status: 'read',
    });
    expect(receipt.status).toBe(409);
    expectDocumented('POST /v1/messages/{messageId}/receipt', receipt);
  });

  it("an erased subscriber's token answers a documented 404 on every subscriber-token route", async () => {
    const token = (await server.call('POST', '/v1/subscribers/gone/token', {})).body.token as string;
    expect((await server.call('DELETE', '/v1/subscribers/gone')).status).toBe(202);
    await waitFor(
      async () => (await server.call('GET', '/v1/inbox', undefined, { auth: token })).status === 404,
      'the erased subscriber’s inbox to answer 404',
    );
    const routes: [key: string, route: string, body?: unknown][] = [
      ['GET /v1/inbox', '/v1/inbox'],
      ['GET /v1/inbox/unread-count', '/v1/inbox/unread-count'],
      ['POST /v1/inbox/read-all', '/v1/inbox/read-all'],
      ['POST /v1/inbox/seen-all', '/v1/inbox/seen-all'],
      ['POST /v1/inbox/{itemId}/read', '/v1/inbox/msg_gone/read'],
      ['POST /v1/messages/{messageId}/receipt', '/v1/messages/msg_gone/receipt', { status: 'read' }],
      ['GET /v1/inbox/stream', '/v1/inbox/stream'],
      ['GET /v1/inbox/ws', '/v1/inbox/ws'],
    ];
    for (const [key, route, body] of routes) {
      const answer = await server.call(key.split(' ')[0]!, route, body, { auth: token });
      expect(answer.status, key).toBe(404);
      expectDocumented(key, answer);
    }
  });

  it('the preference page refuses with documented pages', async () => {
    const page = (method: string, body?: string, headers: Record<string, string> = {}) =>
      server.call(method, '/v1/preferences-page?token=not-a-token', body, {
        auth: null,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      });
    const get = await page('GET');
    expect(get.status).toBe(401);
    expect(get.headers.get('content-type')).toMatch(/^text\/html/);
    expectDocumented('GET /v1/preferences-page', get);
    const post = await page('POST', 'token=not-a-token');
    expect(post.status).toBe(401);
    expectDocumented('POST /v1/preferences-page', post);
    const crossSite = await page('POST', 'token=not-a-token', { origin: 'https://elsewhere.example' });
    expect(crossSite.status).toBe(403);
    expectDocumented('POST /v1/preferences-page', crossSite);
  });

  it('the streams document the token and resume point they read, and refuse a bad one as documented', async () => {
    const token = (await server.call('POST', '/v1/subscribers/ada/token', {})).body.token as string;
    const named = (key: string) => operationOf(key).parameters.map((p: Json) => `${p.in} ${p.name}`);
    expect(named('GET /v1/inbox/stream')).toEqual(
      expect.arrayContaining(['query token', 'query after', 'header Last-Event-ID']),
    );
    expect(named('GET /v1/inbox/ws')).toEqual(expect.arrayContaining(['query token', 'query after']));
    for (const key of ['GET /v1/inbox/stream', 'GET /v1/inbox/ws']) {
      const route = key.split(' ')[1]!;
      const badAfter = await server.call('GET', `${route}?token=${token}&after=soon`, undefined, {
        auth: null,
      });
      expect(badAfter.status, key).toBe(400);
      expectDocumented(key, badAfter);
    }
    const badHeader = await server.call('GET', '/v1/inbox/stream', undefined, {
      auth: token,
      headers: { 'last-event-id': 'soon' },
    });
    expect(badHeader.status).toBe(400);
    expectDocumented('GET /v1/inbox/stream', badHeader);
  });

  it('/ answers with a page that says what this is, without a key', async () => {
    const answer = await server.call('GET', '/', undefined, { auth: null });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
    expect(answer.body).toContain('/openapi.json');
    expect(answer.body).toContain('docs/');
  });
});
