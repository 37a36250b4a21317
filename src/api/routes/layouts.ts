import type { FastifyInstance } from 'fastify';
import Type, { type Static } from 'typebox';
import type { LayoutRecord } from '../../shared/model.ts';
import { iso } from '../../shared/time.ts';
import { layoutProblem } from '../../templates/layout.ts';
import { compileMjml } from '../../templates/mjml.ts';
import { MAX_FIELD_CHARS } from '../../templates/render.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, notFound, validationError } from '../errors.ts';
import { mjmlTurns } from '../mjml-turns.ts';
import { IdParams } from '../schemas.ts';

/** A layout: `mjml` (compiled once, here) or `html`, holding `{{ content }}` once. */
const LayoutBody = Type.Object(
  {
    mjml: Type.Optional(Type.String({ minLength: 1, maxLength: 100_000 })),
    html: Type.Optional(Type.String({ minLength: 1, maxLength: 100_000 })),
  },
  { additionalProperties: false },
);
type LayoutBody = Static<typeof LayoutBody>;

function layoutView(layout: LayoutRecord) {
  return {
    key: layout.key,
    version: layout.version,
    [layout.kind]: layout.source,
    compiledHtml: layout.html,
    createdAt: iso(layout.createdAt),
  };
}

/** API.md "Templates": email layouts, `PUT` (a new version each time) and `GET /v1/layouts/{key}`. */
export async function layoutRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context;
  const params = IdParams('key');

  app.put('/v1/layouts/:key', { schema: { params, body: LayoutBody } }, async (request) => {
    const { key } = request.params as { key: string };
    const body = request.body as LayoutBody;
    if ((body.mjml === undefined) === (body.html === undefined))
      throw validationError([{ path: 'mjml', message: 'give either mjml or html' }]);
    const kind = body.mjml !== undefined ? 'mjml' : 'html';
    const source = (body.mjml ?? body.html)!;
    let html = source;
    if (kind === 'mjml') {
      const compiled = await mjmlTurns.run(request.tenantId, () => compileMjml(source));
      if (!compiled.ok && compiled.cause === 'busy')
        throw new ApiError('unavailable', compiled.message, [], { 'retry-after': '1' });
      if (!compiled.ok) throw validationError([{ path: 'mjml', message: compiled.message }]);
      html = compiled.html;
    }
    // One that could frame nothing: every email wrapped in it would fail (deliver.ts framed).
    if (html.length >= MAX_FIELD_CHARS)
      throw validationError([
        {
          path: kind,
          message: `compiles to ${html.length} characters of html; an email in its layout may have at most ${MAX_FIELD_CHARS} in all`,
        },
      ]);
    const problem = layoutProblem(html);
    if (problem !== null) throw validationError([{ path: kind, message: problem }]);
    return layoutView(await store.putLayout(request.tenantId, key, { kind, source, html }, Date.now()));
  });

  app.get('/v1/layouts/:key', { schema: { params } }, async (request) => {
    const { key } = request.params as { key: string };
    const current = await store.layoutAt(request.tenantId, key, Number.MAX_SAFE_INTEGER);
    if (!current) throw notFound('layout', key);
    return layoutView(current);
  });
}
