import { type HttpProviderFake, json, startHttpProviderFake } from './http-provider.ts';

/**
 * A local Discord Execute Webhook: `POST /api/webhooks/{id}/{token}[?wait=true]` with JSON
 * `content`. With `wait=true` Discord answers 200 and the created message, else 204. Errors are
 * `{message, code}`; rate limits `{message, retry_after (seconds, fractional), global}` with a
 * Retry-After header.
 */
export const DISCORD_WEBHOOK_PATH = '/api/webhooks/123456789012345678/discord-webhook-token';

export const DISCORD_ERRORS = {
  unknownWebhook: () => json(404, { message: 'Unknown Webhook', code: 10015 }),
  invalidToken: () => json(401, { message: 'Invalid Webhook Token', code: 50027 }),
  invalidFormBody: () =>
    json(400, {
      message: 'Invalid Form Body',
      code: 50035,
      errors: {
        content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] },
      },
    }),
  rateLimited: (seconds: number) =>
    json(
      429,
      { message: 'You are being rate limited.', retry_after: seconds, global: false },
      { 'retry-after': String(Math.ceil(seconds)) },
    ),
  serverError: () => json(502, { message: '502 Bad Gateway', code: 0 }),
};

export function startDiscordFake(): Promise<HttpProviderFake> {
  return startHttpProviderFake((request, index) => {
    const url = new URL(request.path, 'http://fake');
    if (request.method !== 'POST' || url.pathname !== DISCORD_WEBHOOK_PATH)
      return DISCORD_ERRORS.unknownWebhook();
    let content: unknown;
    try {
      content = (JSON.parse(request.body) as { content?: unknown }).content;
    } catch {
      return json(400, { message: 'Cannot send an empty message', code: 50006 });
    }
    if (typeof content !== 'string' || content === '') {
      return json(400, { message: 'Cannot send an empty message', code: 50006 });
    }
    if (url.searchParams.get('wait') !== 'true') return { status: 204 };
    return json(200, {
      id: `11223344556677${String(index).padStart(4, '0')}`,
      type: 0,
      content,
      channel_id: '998877665544332211',
      webhook_id: '123456789012345678',
    });
  });
}
