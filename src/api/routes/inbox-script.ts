import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/** The browser client, served as written: a plain ES module, no build step (web/inbox/inbox.js). */
const SCRIPT_PATH = new URL('../../../web/inbox/inbox.js', import.meta.url);

/**
 * Browsers may use their copy for five minutes, then revalidate with the ETag (a 304 costs a few
 * bytes), so a new version reaches every page within minutes of an upgrade.
 */
const CACHE_CONTROL = 'public, max-age=300';

/** Whether an `If-None-Match` header (a list, `*`, weak or strong tags) names `etag`. */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
}

/**
 * `GET /inbox.js` (no auth): the `<tidings-inbox>` element and its realtime client. Read once at
 * start, so every request is served from memory with the same strong ETag.
 */
export async function inboxScriptRoutes(app: FastifyInstance): Promise<void> {
  const source = readFileSync(SCRIPT_PATH);
  const etag = `"${createHash('sha256').update(source).digest('base64url').slice(0, 22)}"`;
  const headers = {
    'content-type': 'text/javascript; charset=utf-8',
    'cache-control': CACHE_CONTROL,
    etag,
    // A page that isolates itself (Cross-Origin-Embedder-Policy) may still load it from our origin.
    'cross-origin-resource-policy': 'cross-origin',
  };
  const schema = {
    security: [],
    description:
      'The `<tidings-inbox>` element and its realtime client: a plain ES module (docs/inbox-element.md).',
  };
  app.get('/inbox.js', { config: { auth: 'none' }, schema }, async (request, reply) => {
    reply.headers(headers);
    if (matchesEtag(request.headers['if-none-match'], etag)) return reply.status(304).send();
    return reply.send(source);
  });
}
