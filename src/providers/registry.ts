import { type ChannelProvider, ProviderConfigError } from '../channels/port.ts';
import { createSandboxProvider } from '../channels/sandbox.ts';
import { createOutboundGuard, type OutboundGuard } from '../security/outbound/index.ts';
import { unseal } from '../security/secrets.ts';
import type { Channel, DevicePlatform, IntegrationRecord } from '../shared/model.ts';
import type { Store } from '../store/port.ts';
import { DEFAULT_BREAKER } from './circuit-breaker.ts';
import { Circuits } from './circuits.ts';
import { providerClient, SANDBOX } from './clients.ts';
import { withSecretConfig } from './secret-config.ts';

export interface ResolvedProvider {
  /** The integration id, or 'sandbox' for the built-in fallback. */
  integrationId: string;
  /** The integration's provider name (`apns`, `smtp`…), or 'sandbox'. */
  providerName: string;
  provider: ChannelProvider;
  /** The integration's `rateLimit.perSecond`, or null (the sandbox has none). */
  perSecond: number | null;
}

/**
 * The providers that can reach a device of `platform`, in failover order: an APNs device only
 * through `apns` integrations, an FCM one only through `fcm`, web push through `webpush` (the
 * platform names are the provider names). A sandbox — the built-in fallback of a channel with no
 * integration, or one configured as an integration — captures pushes for any platform. Empty
 * when the tenant has integrations for the channel but none for this platform.
 */
export function forPlatform<T extends Pick<ResolvedProvider, 'providerName'>>(
  candidates: readonly T[],
  platform: DevicePlatform,
): T[] {
  return candidates.filter((c) => c.providerName === platform || c.providerName === SANDBOX);
}

/**
 * How long a tenant's integrations are used as read. API.md: a change applies to every send that
 * starts after its PUT returns, within a second across processes (in the PUT's own process at
 * once: invalidate). Counted from the read's start, so no send after a PUT returned uses a list
 * read more than this before it.
 */
const LIST_TTL_MS = 500;

/**
 * Turns a tenant's integrations into live provider clients, in failover order (lowest priority
 * number first), falling back to the sandbox when a channel has none. Clients are built once per
 * integration version and reused, so SMTP pools and HTTP keep-alive survive between sends.
 */
export class ProviderRegistry {
  private readonly sandbox: ChannelProvider;
  private readonly lists = new Map<string, { at: number; integrations: Promise<IntegrationRecord[]> }>();
  private readonly clients = new Map<string, ChannelProvider>();
  private readonly invalidationListeners = new Set<(tenantId: string) => void>();
  /** The one way out for tenant-directed connections (private-target rule, pooled HTTP). */
  readonly outbound: OutboundGuard;
  /** Circuit breakers and retry budgets of the integrations, shared by every send of this registry. */
  readonly circuits: Circuits;

  /**
   * @param allowPrivateTargets TIDINGS_ALLOW_PRIVATE_TARGETS as given (config.allowPrivateTargets);
   *   null, the default, lets no provider reach a loopback, private or metadata address.
   */
  constructor(
    private readonly store: Store,
    /** Opens sealed credentials: the current key first, then previous secrets' (see Keys.credentialKeyring). */
    private readonly credentialKeys: Buffer | readonly Buffer[],
    allowPrivateTargets: string | null = null,
    /** TIDINGS_PUBLIC_URL (config.publicUrl): where providers call back (Twilio StatusCallback). */
    private readonly publicUrl: string | null = null,
    /** TIDINGS_CIRCUIT_COOLDOWN_MS (config.circuitCoolDownMs): how long an open circuit stays open. */
    circuitCoolDownMs: number = DEFAULT_BREAKER.coolDownMs,
  ) {
    this.sandbox = createSandboxProvider(store);
    this.outbound = createOutboundGuard(allowPrivateTargets);
    this.circuits = new Circuits(store, { ...DEFAULT_BREAKER, coolDownMs: circuitCoolDownMs });
  }

  /**
   * The channel's enabled integrations in priority order; the sandbox for a channel the tenant has
   * no integration for; none when every one of them is disabled.
   */
  async forChannel(tenantId: string, channel: Channel): Promise<ResolvedProvider[]> {
    const all = (await this.integrations(tenantId)).filter((i) => i.channel === channel);
    // The sandbox sends a channel only while the tenant has no integration for it at all (API.md):
    // one whose integrations are all disabled gets none, not a capture reported `sent`.
    if (all.length === 0)
      return [{ integrationId: SANDBOX, providerName: SANDBOX, provider: this.sandbox, perSecond: null }];
    return all
      .filter((i) => i.enabled)
      .map((integration) => ({
        integrationId: integration.id,
        providerName: integration.provider,
        provider: this.client(integration),
        perSecond: integration.perSecond,
      }));
  }

  /** Whether one of the tenant's disabled integrations of `channel` is a `provider` one (apns, fcm). */
  async hasDisabled(tenantId: string, channel: Channel, provider: string): Promise<boolean> {
    return (await this.integrations(tenantId)).some(
      (i) => i.channel === channel && !i.enabled && i.provider === provider,
    );
  }

  /** Forget cached integrations of a tenant (after an integration changed in this process). */
  invalidate(tenantId: string): void {
    this.lists.delete(tenantId);
    for (const listener of this.invalidationListeners) listener(tenantId);
  }

  /** Hear about invalidations, to pass them on to registries in other threads. */
  onInvalidate(listener: (tenantId: string) => void): void {
    this.invalidationListeners.add(listener);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.clients.values()].map((client) => client.close?.()));
    this.clients.clear();
    await this.outbound.close();
  }

  /**
   * Builds the integration's client from its stored config and credentials as a send would,
   * sends nothing, and closes it again (`tidings doctor`): answers what stops it, or null.
   */
  async checkIntegration(integration: IntegrationRecord): Promise<string | null> {
    if (integration.provider === SANDBOX) return null;
    const definition = providerClient(integration.provider);
    if (!definition) return `unknown provider "${integration.provider}"`;
    let credentials: Record<string, unknown> = {};
    try {
      if (integration.sealedCredentials)
        credentials = unseal<Record<string, unknown>>(this.credentialKeys, integration.sealedCredentials);
    } catch (error) {
      return `its credentials do not open: ${(error as Error).message}`;
    }
    try {
      const client = definition.create(
        withSecretConfig(definition, integration.config, credentials),
        credentials,
        {
          outbound: this.outbound,
          integrationId: integration.id,
          ...(this.publicUrl ? { publicUrl: this.publicUrl } : {}),
        },
      );
      await client.close?.();
      return null;
    } catch (error) {
      if (error instanceof ProviderConfigError) return `${error.path} ${error.message}`;
      return (error as Error).message;
    }
  }

  private integrations(tenantId: string): Promise<IntegrationRecord[]> {
    const cached = this.lists.get(tenantId);
    const now = Date.now();
    if (cached && now - cached.at < LIST_TTL_MS && now >= cached.at) return cached.integrations;
    // One read shared by every send waiting on it, cached from its start: an invalidation while
    // it is in flight drops it, so a list read before a PUT is never cached after it.
    const integrations = this.store.listIntegrations(tenantId);
    const entry = { at: now, integrations };
    this.lists.set(tenantId, entry);
    integrations.catch(() => {
      if (this.lists.get(tenantId) === entry) this.lists.delete(tenantId);
    });
    return integrations;
  }

  private client(integration: IntegrationRecord): ChannelProvider {
    const key = `${integration.tenantId}\u0000${integration.id}`;
    const version = `${key}\u0000${integration.updatedAt}`;
    const existing = this.clients.get(version);
    if (existing) return existing;
    for (const [cachedVersion, client] of this.clients) {
      if (cachedVersion.startsWith(`${key}\u0000`)) {
        void client.close?.();
        this.clients.delete(cachedVersion);
        // A changed integration (new host, new credentials) starts with a closed circuit.
        this.circuits.reset(integration.tenantId, integration.id, Date.now());
      }
    }
    const client = this.build(integration);
    this.clients.set(version, client);
    return client;
  }

  private build(integration: IntegrationRecord): ChannelProvider {
    if (integration.provider === SANDBOX) return this.sandbox;
    const definition = providerClient(integration.provider);
    if (!definition)
      throw new Error(`integration ${integration.id} uses unknown provider "${integration.provider}"`);
    const credentials = integration.sealedCredentials
      ? unseal<Record<string, unknown>>(this.credentialKeys, integration.sealedCredentials)
      : {};
    try {
      return definition.create(withSecretConfig(definition, integration.config, credentials), credentials, {
        outbound: this.outbound,
        integrationId: integration.id,
        ...(this.publicUrl ? { publicUrl: this.publicUrl } : {}),
      });
    } catch (error) {
      // Stored before PUT checked it (PUT refuses such config now): every send would fail the
      // same way, so each fails at once instead of retrying eight times.
      if (!(error instanceof ProviderConfigError)) throw error;
      return unusableProvider(integration.provider, `${error.path} ${error.message}`);
    }
  }
}

function unusableProvider(name: string, why: string): ChannelProvider {
  return {
    name,
    send: async () => ({ kind: 'permanent', reason: `integration cannot be used: ${why}` }),
  };
}
