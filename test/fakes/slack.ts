import { type FakeAnswer, type HttpProviderFake, startHttpProviderFake } from './http-provider.ts';

/**
 * A local Slack incoming webhook: `POST /services/T…/B…/secret` with a JSON body holding `text`.
 * Slack answers `200 ok` as plain text, and errors as a status with a one-word text body
 * (`400 invalid_payload`, `404 channel_not_found`, `410 channel_is_archived`…).
 */
export const SLACK_WEBHOOK_PATH = '/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX';

const text = (status: number, body: string, headers: Record<string, string> = {}): FakeAnswer => ({
  status,
  headers: { 'content-type': 'text/html', ...headers },
  body,
});

export const SLACK_ERRORS = {
  invalidPayload: () => text(400, 'invalid_payload'),
  actionProhibited: () => text(403, 'action_prohibited'),
  channelNotFound: () => text(404, 'channel_not_found'),
  noService: () => text(404, 'no_service'),
  channelIsArchived: () => text(410, 'channel_is_archived'),
  rateLimited: (retryAfter: string) => text(429, 'rate_limited', { 'retry-after': retryAfter }),
  rollupError: () => text(500, 'rollup_error'),
};

export function startSlackFake(): Promise<HttpProviderFake> {
  return startHttpProviderFake((request) => {
    if (request.method !== 'POST' || request.path !== SLACK_WEBHOOK_PATH) return SLACK_ERRORS.noService();
    try {
      const body = JSON.parse(request.body) as { text?: unknown };
      if (typeof body.text !== 'string' || body.text === '') return text(400, 'no_text');
    } catch {
      return SLACK_ERRORS.invalidPayload();
    }
    return text(200, 'ok');
  });
}
