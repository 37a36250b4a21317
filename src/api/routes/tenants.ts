import type { FastifyInstance } from 'fastify';
import Type, { type Static } from 'typebox';
import { DisplayName } from '../../ingest/fields.ts';
import {
  addTenantKey,
  FIRST_KEY_LABEL,
  generateApiKey,
  keyPrefix,
  reservedLabelProblem,
} from '../../security/api-keys.ts';
import { newId } from '../../shared/ids.ts';
import { iso } from '../../shared/time.ts';
import type { ApiKeyRecord } from '../../store/port.ts';
import type { ApiContext } from '../context.ts';
import { CURSOR_MAX_LENGTH, OnePageQuery, pageOf, readCursor, refuseCursor } from '../cursors.ts';
import { notFound, unprocessableFields } from '../errors.ts';
import { Id, Limit } from '../schemas.ts';

const TenantBody = Type.Object({ name: DisplayName(200) }, { additionalProperties: false });
const KeyBody = Type.Object({ label: Type.Optional(DisplayName(100)) }, { additionalProperties: false });
const TenantsQuery = Type.Object(
  {
    cursor: Type.Optional(
      Type.String({ maxLength: CURSOR_MAX_LENGTH, description: 'nextCursor of the previous page' }),
    ),
    limit: Type.Optional(Limit(100, 100)),
  },
  { additionalProperties: false },
);
/** Marks the tenant list's cursors: one of another list, or a bare tenant id, is refused (400). */
const CURSOR_TAG = 't1';
const TenantParams = Type.Object({ tenantId: Id });
const KeyParams = Type.Object({ tenantId: Id, keyId: Id });

/** Keys added later, unless the operator names them. */
const ADDED_KEY_LABEL = 'api';

const operatorOnly = { auth: 'operator' as const };
// A new secret is in the answer: no cache (browser, proxy) may keep a copy.
const NO_STORE = { 'cache-control': 'no-store' };

const keyView = (key: ApiKeyRecord) => ({
  keyId: key.id,
  prefix: key.prefix,
  label: key.label,
  createdAt: iso(key.createdAt),
});

export interface TenantRouteHooks {
  /** Called after a key is revoked, so this process stops accepting it at once. */
  onKeyRevoked(): void;
}

/**
 * API.md "Tenants and keys (operators)": tenants and their keys, managed with the operator key
 * (TIDINGS_OPERATOR_KEY), so a multi-tenant deployment needs no shell access. Without that key
 * these routes answer 404 (see auth.ts); a tenant's own key is refused on them.
 */
export async function tenantRoutes(
  app: FastifyInstance,
  context: ApiContext,
  hooks: TenantRouteHooks,
): Promise<void> {
  const { store } = context;

  app.post('/v1/tenants', { config: operatorOnly, schema: { body: TenantBody } }, async (request, reply) => {
    const { name } = request.body as Static<typeof TenantBody>;
    const tenantId = newId('ten');
    await store.ensureTenant(tenantId, name);
    const apiKey = generateApiKey();
    const keyId = await addTenantKey(store, tenantId, apiKey, FIRST_KEY_LABEL);
    return reply.status(201).headers(NO_STORE).send({ tenantId, name, apiKey, keyId });
  });

  app.get('/v1/tenants', { config: operatorOnly, schema: { querystring: TenantsQuery } }, async (request) => {
    const query = request.query as Static<typeof TenantsQuery>;
    const limit = query.limit ?? 100;
    const after = query.cursor === undefined ? null : readCursor(query.cursor, CURSOR_TAG, 1)[0]!;
    // One more than a page: a next cursor only when there is a next item (no empty last page).
    const read = await store.listTenants(after, limit + 1);
    return pageOf(
      read,
      limit,
      CURSOR_TAG,
      (t) => t.id,
      (t) => ({ tenantId: t.id, name: t.name, createdAt: iso(t.createdAt) }),
    );
  });

  app.post(
    '/v1/tenants/:tenantId/keys',
    { config: operatorOnly, schema: { params: TenantParams, body: KeyBody } },
    async (request, reply) => {
      const { tenantId } = request.params as Static<typeof TenantParams>;
      const label = (request.body as Static<typeof KeyBody> | undefined)?.label ?? ADDED_KEY_LABEL;
      if (!(await store.tenantExists(tenantId))) throw notFound('tenant', tenantId);
      const reserved = reservedLabelProblem(tenantId, label);
      if (reserved) throw unprocessableFields([{ path: 'label', message: reserved }]);
      const apiKey = generateApiKey();
      const keyId = await addTenantKey(store, tenantId, apiKey, label);
      return reply
        .status(201)
        .headers(NO_STORE)
        .send({ keyId, tenantId, apiKey, prefix: keyPrefix(apiKey), label });
    },
  );

  app.get(
    '/v1/tenants/:tenantId/keys',
    { config: operatorOnly, schema: { params: TenantParams, querystring: OnePageQuery } },
    async (request) => {
      const { tenantId } = request.params as Static<typeof TenantParams>;
      // Always one page, like a tenant's integrations: any cursor or other parameter is a 400.
      refuseCursor((request.query as Static<typeof OnePageQuery>).cursor);
      if (!(await store.tenantExists(tenantId))) throw notFound('tenant', tenantId);
      return { items: (await store.listApiKeys(tenantId)).map(keyView), nextCursor: null };
    },
  );

  app.delete(
    '/v1/tenants/:tenantId/keys/:keyId',
    { config: operatorOnly, schema: { params: KeyParams } },
    async (request, reply) => {
      const { tenantId, keyId } = request.params as Static<typeof KeyParams>;
      if (!(await store.revokeApiKey(keyId, tenantId))) throw notFound('key', keyId);
      hooks.onKeyRevoked();
      return reply.status(204).send();
    },
  );
}
