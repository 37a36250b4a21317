import type { FastifyInstance } from 'fastify';
import { PROVIDERS, SANDBOX } from '../../providers/catalog.ts';
import { seal } from '../../security/secrets.ts';
import type { ApiContext } from '../context.ts';
import { type ErrorDetail, notFound, validationError } from '../errors.ts';
import { IdParams, IntegrationBody } from '../schemas.ts';
import { compileValidator, type Validator } from '../validation.ts';
import { integrationView } from '../views.ts';

const validators = new Map<string, { config: Validator<unknown>; credentials: Validator<unknown> }>();
function providerValidators(provider: string) {
  let found = validators.get(provider);
  const definition = PROVIDERS[provider];
  if (!found && definition) {
    found = {
      config: compileValidator(definition.config),
      credentials: compileValidator(definition.credentials),
    };
    validators.set(provider, found);
  }
  return found;
}

/** Checks the provider exists, serves the channel, and gets the config and credentials it needs. */
function integrationDetails(body: IntegrationBody, hasStoredCredentials: boolean): ErrorDetail[] {
  if (body.provider === SANDBOX) return [];
  const definition = PROVIDERS[body.provider];
  if (!definition) {
    const known = [SANDBOX, ...Object.keys(PROVIDERS)].join(', ');
    return [{ path: 'provider', message: `is not a known provider (known: ${known})` }];
  }
  if (definition.channels !== 'any' && !definition.channels.includes(body.channel)) {
    return [
      { path: 'channel', message: `provider ${body.provider} serves ${definition.channels.join(', ')}` },
    ];
  }
  const check = providerValidators(body.provider)!;
  const details: ErrorDetail[] = [];
  const config = check.config(body.config ?? {}, 'config');
  if (!config.ok) details.push(...config.details);
  if (body.credentials !== undefined || !hasStoredCredentials) {
    const credentials = check.credentials(body.credentials ?? {}, 'credentials');
    if (!credentials.ok) details.push(...credentials.details);
  }
  return details;
}

export async function integrationRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store, providers } = context;
  const params = IdParams('integrationId');

  app.put(
    '/v1/integrations/:integrationId',
    { schema: { params, body: IntegrationBody } },
    async (request) => {
      const { integrationId } = request.params as { integrationId: string };
      const body = request.body as IntegrationBody;
      const existing = await store.getIntegration(request.tenantId, integrationId);
      const details = integrationDetails(body, existing?.sealedCredentials != null);
      if (details.length > 0) throw validationError(details);
      // Omitted credentials keep the stored ones, so priorities can change without resending secrets.
      const sealedCredentials =
        body.credentials !== undefined
          ? seal(context.keys.credentials, body.credentials)
          : (existing?.sealedCredentials ?? null);
      const record = await store.putIntegration(
        {
          tenantId: request.tenantId,
          id: integrationId,
          channel: body.channel,
          provider: body.provider,
          priority: body.priority ?? 1,
          config: body.config ?? {},
          sealedCredentials,
          enabled: body.enabled ?? true,
        },
        Date.now(),
      );
      providers.invalidate(request.tenantId);
      return integrationView(record);
    },
  );

  app.get('/v1/integrations', async (request) => ({
    items: (await store.listIntegrations(request.tenantId)).map(integrationView),
  }));

  app.get('/v1/integrations/:integrationId', { schema: { params } }, async (request) => {
    const { integrationId } = request.params as { integrationId: string };
    const integration = await store.getIntegration(request.tenantId, integrationId);
    if (!integration) throw notFound('integration', integrationId);
    return integrationView(integration);
  });
}
