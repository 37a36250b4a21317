import { afterAll, expect } from 'vitest';
import type { OutboundMessage } from '../../src/channels/port.ts';
import { PROVIDERS } from '../../src/providers/catalog.ts';
import type { HttpProviderFake } from '../fakes/http-provider.ts';
import { loopbackContext } from '../fakes/outbound.ts';
import { SLACK_ERRORS, SLACK_WEBHOOK_PATH, startSlackFake } from '../fakes/slack.ts';
import { describeConformance } from './conformance.ts';

const context = loopbackContext();
afterAll(() => context.outbound.close());

function chatMessage(
  content: Record<string, string> = { text: 'Deploy finished', body: 'ignored' },
): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: 'msg_01CHAT',
    eventId: 'evt_01CHAT',
    workflow: 'deploys',
    channel: 'chat',
    subscriber: { id: 'sub_1', email: null, phone: null, locale: null, timezone: null },
    content,
    data: {},
  };
}

describeConformance<HttpProviderFake>({
  provider: 'slack',
  startFake: startSlackFake,
  // The webhook URL stays Slack's own; `endpoint` sends it to the fake (same path).
  build: (fake) =>
    PROVIDERS.slack!.create(
      { webhookUrl: `https://hooks.slack.com${SLACK_WEBHOOK_PATH}`, endpoint: fake.url },
      {},
      context,
    ),
  message: () => chatMessage(),
  checkAccepted(request, outcome) {
    expect(request.method).toBe('POST');
    expect(request.path).toBe(SLACK_WEBHOOK_PATH);
    expect(request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request.body)).toEqual({ text: 'Deploy finished' });
    expect(outcome).toEqual({ kind: 'accepted', detail: 'HTTP 200 OK: ok' });
  },
  errors: [
    {
      name: '400 invalid_payload',
      arrange: (f) => f.answerNext(SLACK_ERRORS.invalidPayload()),
      expect: { kind: 'permanent' },
    },
    {
      name: '403 action_prohibited',
      arrange: (f) => f.answerNext(SLACK_ERRORS.actionProhibited()),
      expect: { kind: 'permanent' },
    },
    {
      name: '404 channel_not_found',
      arrange: (f) => f.answerNext(SLACK_ERRORS.channelNotFound()),
      expect: { kind: 'bad_address' },
    },
    {
      name: '404 no_service',
      arrange: (f) => f.answerNext(SLACK_ERRORS.noService()),
      expect: { kind: 'bad_address' },
    },
    {
      name: '410 channel_is_archived',
      arrange: (f) => f.answerNext(SLACK_ERRORS.channelIsArchived()),
      expect: { kind: 'bad_address' },
    },
    {
      name: '429 with Retry-After',
      arrange: (f) => f.answerNext(SLACK_ERRORS.rateLimited('30')),
      expect: { kind: 'retryable', retryAfterMs: 30_000 },
    },
    {
      name: '500 rollup_error',
      arrange: (f) => f.answerNext(SLACK_ERRORS.rollupError()),
      expect: { kind: 'retryable' },
    },
  ],
});
