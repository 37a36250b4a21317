import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../../src/shared/model.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * The keys of a workflow's `locales` (a step's, a variant's) and `messages` (its locales, and the
 * message keys in each) are held to their rule at PUT, with words naming the key: TypeBox turned
 * the key schemas' bare length limits into `^.*$`, so an over-long tag was stored. Definitions
 * stored with such a key still load and render; saving one again is refused.
 */

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const LOCALE_KEY = 'is not a valid key: must be a language tag such as en or pt-BR, of at most 64 characters';
const MESSAGE_KEY =
  "is not a valid key: must be 1–100 characters: a letter (A–Z, a–z), then letters, digits, '_', '.' or '-'";

/** Private-use tags Intl takes, of 64 and 65 characters. */
const TAG_64 = `en-x-${'abcdefgh-'.repeat(6)}abcde`;
const TAG_65 = `en-x-${'abcdefgh-'.repeat(6)}abcdef`;

const fields = { title: 't', body: 'b' };
const steps = [{ channel: 'in_app', template: fields }];

type Place = [where: string, body: (key: string) => unknown, path: (key: string) => string, message: string];

/** Each map whose keys have a rule, with the body holding `key` there and the path naming it. */
const PLACES: Place[] = [
  [
    "a step's locales",
    (key) => ({ channels: [{ ...steps[0], locales: { [key]: { title: 'x' } } }] }),
    (key) => `channels[0].locales.${key}`,
    LOCALE_KEY,
  ],
  [
    "a variant's locales",
    (key) => ({
      channels: [
        {
          channel: 'in_app',
          variants: [
            { name: 'a', weight: 1, template: fields },
            { name: 'b', weight: 1, template: fields, locales: { [key]: { title: 'x' } } },
          ],
        },
      ],
    }),
    (key) => `channels[0].variants[1].locales.${key}`,
    LOCALE_KEY,
  ],
  [
    'the locales of messages',
    (key) => ({ messages: { en: { hi: 'Hi' }, [key]: { hi: 'x' } }, channels: steps }),
    (key) => `messages.${key}`,
    LOCALE_KEY,
  ],
  [
    'the message keys',
    (key) => ({ messages: { en: { [key]: 'x' } }, channels: steps }),
    (key) => `messages.en.${key}`,
    MESSAGE_KEY,
  ],
];

const BAD_KEYS: [what: string, key: (place: string) => string][] = [
  ['empty', () => ''],
  ['over-long', (place) => (place === 'the message keys' ? `m${'a'.repeat(100)}` : TAG_65)],
  ['holding a newline', () => 'en\n'],
  ['holding a control character', () => 'e\u0007n'],
  ['holding a bidi override', () => 'en\u202e'],
];

describe.each(PLACES)('%s', (where, body, path, message) => {
  it.each(BAD_KEYS)('refuses a key %s with a 400 naming it, storing nothing', async (_what, keyFor) => {
    const key = keyFor(where);
    const answer = await server.call('PUT', '/v1/workflows/keyed', body(key));
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([{ path: path(key), message }]);
    expect((await server.call('GET', '/v1/workflows/keyed')).status).toBe(404);
  });
});

describe('keys within the rules', () => {
  it('are taken: tags of any shape Intl takes up to 64 characters, message keys up to 100', async () => {
    const tags = ['es', 'pt-BR', 'zh-Hant-TW', 'de-CH-1996', 'en-US-u-ca-gregory', TAG_64];
    const locales = Object.fromEntries(tags.map((tag) => [tag, { title: tag }]));
    const messageKey = `m${'a'.repeat(99)}`;
    const answer = await server.call('PUT', '/v1/workflows/keyed-ok', {
      messages: { en: { 'a.b-c_d': 'x', [messageKey]: 'y' }, [TAG_64]: { 'a.b-c_d': 'z' } },
      channels: [{ ...steps[0], locales }],
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(Object.keys(answer.body.channels[0].locales)).toEqual(tags);
  });

  it('that look like a tag but are none are refused in the same words', async () => {
    const answer = await server.call('PUT', '/v1/workflows/keyed', {
      channels: [{ ...steps[0], locales: { 'zz-12': { title: 'x' } } }],
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([{ path: 'channels[0].locales.zz-12', message: LOCALE_KEY }]);
  });
});

describe('the key rules are in the schema', () => {
  it("so a bad key is told together with the body's other problems", async () => {
    const answer = await server.call('PUT', '/v1/workflows/keyed', {
      priority: 'urgent',
      messages: { en: { '': 'x' }, [TAG_65]: { hi: 'x' } },
      channels: [{ ...steps[0], locales: { 'en\n': { title: 'x' } } }],
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'priority' }),
        { path: 'messages.en.', message: MESSAGE_KEY },
        { path: `messages.${TAG_65}`, message: LOCALE_KEY },
        { path: 'channels[0].locales.en\n', message: LOCALE_KEY },
      ]),
    );
  });

  it('and /openapi.json shows each key pattern with its words', async () => {
    const document = JSON.stringify(
      (await server.call('GET', '/openapi.json', undefined, { auth: null })).body,
    );
    for (const words of [LOCALE_KEY, MESSAGE_KEY]) {
      const shown = `"x-key-message":${JSON.stringify(words.replace('is not a valid key: ', ''))}`;
      expect(document.includes(shown), shown).toBe(true);
    }
  });
});

describe('a definition stored with an over-long locale key', () => {
  it('still loads and renders; a PUT of it and a rollback to it are refused naming the key', async () => {
    const stored = {
      messages: { en: { hi: 'Hello' }, [TAG_65]: { hi: 'long' } },
      channels: [
        { channel: 'in_app', template: { title: '{{ "hi" | t }}' }, locales: { [TAG_65]: { title: 'x' } } },
      ],
    } as unknown as WorkflowDefinition;
    const { store } = server.tidings;
    await store.putWorkflow('default', 'legacy-keys', stored, Date.now());
    await server.call('PUT', '/v1/workflows/legacy-keys', { channels: steps });

    const versions = await server.call('GET', '/v1/workflows/legacy-keys/versions');
    expect(versions.status).toBe(200);
    const legacy = versions.body.items.find((v: { version: number }) => v.version === 1).definition;
    expect(Object.keys(legacy.messages)).toEqual(['en', TAG_65]);
    expect(Object.keys(legacy.channels[0].locales)).toEqual([TAG_65]);

    const rollback = await server.call('POST', '/v1/workflows/legacy-keys/rollback', { version: 1 });
    expect(rollback.status).toBe(400);
    expect(rollback.body.error.details).toEqual([
      { path: `channels[0].locales.${TAG_65}`, message: LOCALE_KEY },
      { path: `messages.${TAG_65}`, message: LOCALE_KEY },
    ]);
    expect((await server.call('GET', '/v1/workflows/legacy-keys')).body.version).toBe(2);

    const put = await server.call('PUT', '/v1/workflows/legacy-keys', legacy);
    expect(put.status).toBe(400);
    expect(put.body.error.details).toEqual(
      expect.arrayContaining([
        { path: `channels[0].locales.${TAG_65}`, message: LOCALE_KEY },
        { path: `messages.${TAG_65}`, message: LOCALE_KEY },
      ]),
    );

    // The stored version renders as it did: its messages are all there, its long key is kept.
    await store.putWorkflow('default', 'legacy-render', stored, Date.now());
    const preview = await server.call('POST', '/v1/workflows/legacy-render/preview', {
      subscriber: { subscriberId: 'p', locale: 'en' },
    });
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.channels[0].content).toEqual({ title: 'Hello' });
  });
});
