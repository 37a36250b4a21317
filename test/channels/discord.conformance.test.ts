import { afterAll, describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../src/channels/port.ts';
import { PROVIDERS } from '../../src/providers/catalog.ts';
import {
  DISCORD_ERRORS,
  DISCORD_WEBHOOK_PATH,
  DISCORD_WEBHOOK_PATH_V10,
  type DiscordFake,
  startDiscordFake,
} from '../fakes/discord.ts';
import { loopbackContext } from '../fakes/outbound.ts';
import { describeConformance } from './conformance.ts';

const context = loopbackContext();
afterAll(() => context.outbound.close());

const build = (fake: DiscordFake, webhookUrl = `https://discord.com${DISCORD_WEBHOOK_PATH}`) =>
  PROVIDERS.discord!.create({ webhookUrl, endpoint: fake.url }, {}, context);

function chatMessage(
  content: Record<string, string> = { body: 'Build 42 is green @everyone' },
): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: 'msg_01CHAT',
    eventId: 'evt_01CHAT',
    workflow: 'builds',
    channel: 'chat',
    subscriber: { id: 'sub_1', email: null, phone: null, locale: null, timezone: null },
    content,
    data: {},
  };
}

describeConformance<DiscordFake>({
  provider: 'discord',
  startFake: startDiscordFake,
  build: (fake) => build(fake),
  message: () => chatMessage(),
  checkAccepted(request, outcome) {
    expect(request.method).toBe('POST');
    expect(request.path).toBe(`${DISCORD_WEBHOOK_PATH}?wait=true`);
    expect(request.headers['content-type']).toBe('application/json');
    // `body` is used when the template has no `text`; mentions in it never ping anyone.
    expect(JSON.parse(request.body)).toEqual({
      content: 'Build 42 is green @everyone',
      allowed_mentions: { parse: [] },
    });
    expect(outcome).toMatchObject({ kind: 'accepted', providerMessageId: expect.stringMatching(/^\d+$/) });
  },
  errors: [
    {
      name: '404 Unknown Webhook (10015)',
      arrange: (f) => f.answerNext(DISCORD_ERRORS.unknownWebhook()),
      expect: { kind: 'bad_address' },
    },
    {
      name: '401 Invalid Webhook Token (50027)',
      arrange: (f) => f.answerNext(DISCORD_ERRORS.invalidToken()),
      expect: { kind: 'bad_address' },
    },
    {
      name: '400 Invalid Form Body (50035)',
      arrange: (f) => f.answerNext(DISCORD_ERRORS.invalidFormBody()),
      expect: { kind: 'permanent' },
    },
    {
      // The URL Discord hands out names no API version: served as v6, whose retry_after is in ms.
      name: '429 on the unversioned webhook URL (retry_after in milliseconds)',
      arrange: (f) => f.rateLimitNext(1.234),
      expect: { kind: 'retryable', retryAfterMs: 1234 },
    },
    {
      name: '502 bad gateway',
      arrange: (f) => f.answerNext(DISCORD_ERRORS.serverError()),
      expect: { kind: 'retryable' },
    },
  ],
});

describe('discord adapter details', () => {
  it('reads retry_after in seconds (fractional) on a webhook URL of API v8 or later', async () => {
    const fake = await startDiscordFake();
    try {
      fake.rateLimitNext(1.234);
      const outcome = await build(fake, `https://discord.com${DISCORD_WEBHOOK_PATH_V10}`).send(chatMessage());
      expect(outcome).toMatchObject({ kind: 'retryable', retryAfterMs: 1234 });
      expect(fake.requests.at(-1)!.path).toBe(`${DISCORD_WEBHOOK_PATH_V10}?wait=true`);
    } finally {
      await fake.close();
    }
  });

  it('reads a fractional retry_after as seconds on the unversioned URL too (milliseconds are whole)', async () => {
    const fake = await startDiscordFake();
    try {
      fake.answerNext({
        status: 429,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'You are being rate limited.', retry_after: 0.372, global: false }),
      });
      const outcome = await build(fake, `https://discord.com${DISCORD_WEBHOOK_PATH}`).send(chatMessage());
      expect(outcome).toMatchObject({ kind: 'retryable', retryAfterMs: 372 });
    } finally {
      await fake.close();
    }
  });

  it('keeps a thread_id the webhook URL carries, beside wait=true', async () => {
    const fake = await startDiscordFake();
    try {
      await build(fake, `https://discord.com${DISCORD_WEBHOOK_PATH}?thread_id=777`).send(
        chatMessage({ text: 'hi' }),
      );
      expect(fake.requests.at(-1)!.path).toBe(`${DISCORD_WEBHOOK_PATH}?thread_id=777&wait=true`);
    } finally {
      await fake.close();
    }
  });
});
