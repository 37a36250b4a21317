import { type FakeAnswer, type HttpProviderFake, json, startHttpProviderFake } from './http-provider.ts';

/**
 * A local Discord Execute Webhook: `POST /api[/v{n}]/webhooks/{id}/{token}[?wait=true]` with JSON
 * `content`. With `wait=true` Discord answers 200 and the created message, else 204. Errors are
 * `{message, code}`; rate limits `{message, retry_after, global}` with a Retry-After header, in
 * the units of the API version the path names: seconds (fractional) from v8 on, milliseconds for
 * a path without a version — the URL Discord hands out — which is served as the default, v6
 * (https://github.com/discord/discord-api-docs/issues/4722, /issues/2360).
 */
export const DISCORD_WEBHOOK_PATH = '/api/webhooks/123456789012345678/discord-webhook-token';
/** The same webhook through a versioned path. */
export const DISCORD_WEBHOOK_PATH_V10 = '/api/v10/webhooks/123456789012345678/discord-webhook-token';

export interface DiscordFake extends HttpProviderFake {
  /** Rate-limits the next request for `seconds`, said in the units of the version it asked for. */
  rateLimitNext(seconds: number): void;
}

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
  serverError: () => json(502, { message: '502 Bad Gateway', code: 0 }),
};

/** A 429 as Discord words it for API `version` (null: a path without one, served as v6). */
function rateLimited(seconds: number, version: number | null): FakeAnswer {
  const inMs = version === null || version < 8;
  const value = inMs ? Math.ceil(seconds * 1000) : seconds;
  return json(
    429,
    { message: 'You are being rate limited.', retry_after: value, global: false },
    { 'retry-after': String(inMs ? value : Math.ceil(seconds)) },
  );
}

export async function startDiscordFake(): Promise<DiscordFake> {
  const limits: number[] = [];
  const fake = await startHttpProviderFake((request, index) => {
    const url = new URL(request.path, 'http://fake');
    if (request.method !== 'POST' || ![DISCORD_WEBHOOK_PATH, DISCORD_WEBHOOK_PATH_V10].includes(url.pathname))
      return DISCORD_ERRORS.unknownWebhook();
    const limit = limits.shift();
    if (limit !== undefined) return rateLimited(limit, url.pathname === DISCORD_WEBHOOK_PATH ? null : 10);
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
  return Object.assign(fake, { rateLimitNext: (seconds: number) => void limits.push(seconds) });
}
