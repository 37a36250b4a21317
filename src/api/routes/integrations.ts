import type { FastifyInstance } from 'fastify';
import { ProviderConfigError } from '../../channels/port.ts';
import { PROVIDERS, type ProviderDefinition, providerDefinition } from '../../providers/catalog.ts';
import { SANDBOX } from '../../providers/clients.ts';
import type { ProviderRegistry } from '../../providers/registry.ts';
import { restoreSecretConfig, splitSecretConfig } from '../../providers/secret-config.ts';
import { seal, unseal } from '../../security/secrets.ts';
import type { IntegrationRecord } from '../../shared/model.ts';
import { hasUrlControlCharacters, URL_CONTROL_CHARACTERS_MESSAGE } from '../../shared/url-text.ts';
import type { CircuitRecord } from '../../store/port.ts';
import type { ApiContext } from '../context.ts';
import { OnePageQuery, refuseCursor } from '../cursors.ts';
import { ApiError, type ErrorDetail, notFound, unprocessableFields, validationError } from '../errors.ts';
import { IdParams, IntegrationBody } from '../schemas.ts';
import { refuseBlockedTargets, unusableHosts } from '../targets.ts';
import { compileValidator, type Validator } from '../validation.ts';
import { integrationView } from '../views.ts';

type Fields = Record<string, unknown>;

const validators = new Map<string, { config: Validator<unknown>; credentials: Validator<unknown> }>();
function providerValidators(provider: string) {
  let found = validators.get(provider);
  const definition = providerDefinition(provider);
  if (!found && definition) {
    found = {
      config: compileValidator(definition.config),
      credentials: compileValidator(definition.credentials),
    };
    validators.set(provider, found);
  }
  return found;
}

/** The provider exists and serves the channel: otherwise the body names something that is not there (400). */
function providerDetails(body: IntegrationBody): ErrorDetail[] {
  if (body.provider === SANDBOX) return [];
  const definition = providerDefinition(body.provider);
  if (!definition) {
    const known = [SANDBOX, ...Object.keys(PROVIDERS)].join(', ');
    return [{ path: 'provider', message: `is not a known provider (known: ${known})` }];
  }
  if (definition.channels !== 'any' && !definition.channels.includes(body.channel)) {
    return [
      { path: 'channel', message: `provider ${body.provider} serves ${definition.channels.join(', ')}` },
    ];
  }
  return [];
}

/**
 * The config and credentials the provider needs. Like every offline check of an integration
 * (API.md), a missing or unusable one is a 422 naming the field.
 */
function settingsDetails(body: IntegrationBody, hasStoredCredentials: boolean): ErrorDetail[] {
  // The sandbox takes no config and no credentials (API.md): any field is one it does not know.
  if (body.provider === SANDBOX) {
    return [
      ...Object.keys(body.config ?? {}).map((key) => `config.${key}`),
      ...Object.keys(body.credentials ?? {}).map((key) => `credentials.${key}`),
    ].map((path) => ({ path, message: 'is not a known field (the sandbox takes none)' }));
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

/**
 * Stored credentials go only where they were given for: another target needs them again. So does
 * a secret config field (a chat webhook URL, sealed with the credentials): sent back in its masked
 * form it stands for the stored URL only where that URL went before, whatever `credentials` the
 * PUT carries (a chat provider takes none, so `"credentials": {}` proves nothing).
 */
function checkCredentialsFollow(
  definition: ProviderDefinition,
  body: IntegrationBody,
  config: Fields,
  existing: IntegrationRecord | null,
  storedCredentials: Fields,
): void {
  if (!existing?.sealedCredentials) return;
  if (existing.provider === body.provider && !definition.retargets(existing.config, config)) return;
  // restoreSecretConfig put the stored value in place of the masked one the PUT gave.
  const masked = (definition.secretConfig ?? []).filter((field) => body.config?.[field] !== config[field]);
  if (masked.length > 0) {
    const message =
      'must be given whole again: this change sends it somewhere else (endpoint or host), and the masked form stands for the stored URL only where it went before';
    const details = masked.map((field) => ({ path: `config.${field}`, message }));
    throw new ApiError('credentials_required', `${details[0]!.path} ${message}`, details);
  }
  if (body.credentials !== undefined) return;
  // Nothing stored but the secret config fields, which the PUT gave whole: nothing to give again.
  const secretKeys = new Set((definition.secretConfig ?? []).map((field) => `config.${field}`));
  if (Object.keys(storedCredentials).every((key) => secretKeys.has(key)) && secretKeys.size > 0) return;
  const message =
    'must be given again: this change sends them somewhere else (host, port, URL, endpoint, provider or TLS setting)';
  throw new ApiError('credentials_required', `credentials ${message}`, [{ path: 'credentials', message }]);
}

/** The config fields that are URLs, whichever provider has them. */
const URL_FIELDS = ['endpoint', 'webhookUrl', 'url'] as const;

/**
 * A URL given with whitespace or a control character is refused (src/shared/url-text.ts). One the
 * integration already had passes, so that a GET copied into a PUT (to change its priority, say)
 * keeps working for an integration saved before the rule.
 */
function refuseUrlControlCharacters(config: Fields, stored: { config: Fields; credentials: Fields } | null) {
  const details: ErrorDetail[] = [];
  for (const field of URL_FIELDS) {
    const value = config[field];
    if (typeof value !== 'string' || !hasUrlControlCharacters(value)) continue;
    // A secret URL is stored sealed, its masked form in the config (secret-config.ts).
    const kept =
      stored && (value === stored.config[field] || value === stored.credentials[`config.${field}`]);
    if (!kept) details.push({ path: `config.${field}`, message: URL_CONTROL_CHARACTERS_MESSAGE });
  }
  if (details.length > 0) throw unprocessableFields(details);
}

/** Runs an offline check, turning a ProviderConfigError into a 422 naming the field. */
function offline<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    const detail =
      error instanceof ProviderConfigError
        ? { path: error.path, message: error.message }
        : { path: 'config', message: `cannot be used: ${(error as Error).message}` };
    throw unprocessableFields([detail]);
  }
}

/**
 * Builds the client as a send would, without connecting, so bad keys are a 422 now; and makes the
 * checks only a PUT makes (`stored`: the config it replaces, of the same provider), those of
 * credentials only on the ones it gives (`used` may be the stored ones).
 */
function buildOffline(
  definition: ProviderDefinition,
  config: Fields,
  credentials: { given: Fields | undefined; used: Fields },
  stored: Fields | null,
  providers: ProviderRegistry,
): void {
  const client = offline(() => {
    definition.checkAtPut?.(config, stored, credentials);
    if (credentials.given) definition.checkCredentials?.(credentials.given, config);
    return definition.create(config, credentials.used, { outbound: providers.outbound });
  });
  void client.close?.().catch(() => undefined);
}

/**
 * The circuit as it is after a PUT. Every PUT makes a new version of the integration, whose breaker
 * starts closed: each worker resets its own when it builds the changed client (ProviderRegistry),
 * which may be at its next send. An open or half-open circuit is published closed here, so the
 * answer and every GET from now on show the breaker the next send will use, not the old one's. A
 * worker's later transition (written with a later time) replaces it as usual.
 */
async function closeCircuit(
  store: ApiContext['store'],
  tenantId: string,
  integrationId: string,
): Promise<CircuitRecord | undefined> {
  const circuit = (await store.listCircuits(tenantId)).find((c) => c.integrationId === integrationId);
  if (!circuit || circuit.state === 'closed') return circuit;
  const closed: CircuitRecord = {
    ...circuit,
    state: 'closed',
    failures: 0,
    openedAt: null,
    updatedAt: Math.max(Date.now(), circuit.updatedAt),
  };
  await store.putCircuit(closed);
  return closed;
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
      const unknown = providerDetails(body);
      if (unknown.length > 0) throw validationError(unknown);
      const unusable = settingsDetails(body, existing?.sealedCredentials != null);
      if (unusable.length > 0) throw unprocessableFields(unusable);
      const definition = providerDefinition(body.provider);
      let config = body.config ?? {};
      let sealedCredentials = existing?.sealedCredentials ?? null;
      if (body.credentials !== undefined)
        sealedCredentials = seal(context.keys.credentials, body.credentials);
      if (definition) {
        // Omitted credentials keep the stored ones, so priorities can change without resending
        // secrets; another provider's mean nothing to this one, and are never carried over to it.
        const storedCredentials =
          existing?.sealedCredentials && existing.provider === body.provider
            ? unseal<Fields>(context.keys.credentialKeyring, existing.sealedCredentials)
            : {};
        const stored =
          existing?.provider === body.provider
            ? { config: existing.config, credentials: storedCredentials }
            : null;
        config = offline(() => restoreSecretConfig(definition, config, stored));
        refuseUrlControlCharacters(config, stored);
        const credentials = body.credentials ?? storedCredentials;
        // A host that is no host is, like every config field an integration cannot use, a 422.
        const targets = definition.targets(config, credentials);
        refuseBlockedTargets(providers.outbound, targets, unprocessableFields);
        const storedTargets = stored ? definition.targets(stored.config, stored.credentials) : [];
        const badHosts = unusableHosts(targets, storedTargets);
        if (badHosts.length > 0) throw unprocessableFields(badHosts);
        checkCredentialsFollow(definition, body, config, existing, storedCredentials);
        buildOffline(
          definition,
          config,
          { given: body.credentials, used: credentials },
          stored?.config ?? null,
          providers,
        );
        if (definition.secretConfig) {
          // A webhook URL that is itself the secret is sealed with the credentials, never stored plain.
          const split = splitSecretConfig(definition, config, credentials);
          config = split.config;
          sealedCredentials = seal(context.keys.credentials, split.credentials);
        }
      }
      // The sandbox takes no credentials: one replacing another provider keeps none of its secrets.
      if (body.provider === SANDBOX) sealedCredentials = null;
      const record = await store.putIntegration(
        {
          tenantId: request.tenantId,
          id: integrationId,
          channel: body.channel,
          provider: body.provider,
          priority: body.priority ?? 1,
          config,
          sealedCredentials,
          enabled: body.enabled ?? true,
          perSecond: body.rateLimit?.perSecond ?? null,
        },
        Date.now(),
      );
      providers.invalidate(request.tenantId);
      return integrationView(record, await closeCircuit(store, request.tenantId, integrationId));
    },
  );

  // Always one page: a `cursor` (which it never issues) is refused.
  app.get('/v1/integrations', { schema: { querystring: OnePageQuery } }, async (request) => {
    refuseCursor((request.query as { cursor?: string }).cursor);
    const [integrations, circuits] = await Promise.all([
      store.listIntegrations(request.tenantId),
      store.listCircuits(request.tenantId),
    ]);
    const byId = new Map(circuits.map((c) => [c.integrationId, c]));
    // A tenant has a handful of integrations: one page, always the last.
    return { items: integrations.map((i) => integrationView(i, byId.get(i.id))), nextCursor: null };
  });

  app.get('/v1/integrations/:integrationId', { schema: { params } }, async (request) => {
    const { integrationId } = request.params as { integrationId: string };
    const [integration, circuits] = await Promise.all([
      store.getIntegration(request.tenantId, integrationId),
      store.listCircuits(request.tenantId),
    ]);
    if (!integration) throw notFound('integration', integrationId);
    return integrationView(
      integration,
      circuits.find((c) => c.integrationId === integrationId),
    );
  });
}
