import { ProviderConfigError } from '../channels/port.ts';

type Fields = Record<string, unknown>;

/** What this module needs of a provider definition: which config fields are secrets. */
interface SecretFields {
  /**
   * Config fields that are bearer secrets themselves (a Slack or Discord webhook URL: whoever
   * knows it can post). They are given in `config` like any field, but stored sealed with the
   * credentials, and the stored (and returned) config holds only a masked form.
   */
  secretConfig?: readonly string[];
}

/** Where a secret config field lives inside the sealed credentials. */
const sealedKey = (field: string) => `config.${field}`;

const ELLIPSIS = '…';

/**
 * The masked form a secret shows in `GET /v1/integrations`: the URL's origin and the last four
 * characters, enough to tell two webhooks apart and nothing to post with.
 */
function maskSecret(value: string): string {
  const origin = URL.canParse(value) ? new URL(value).origin : '';
  return `${origin}/${ELLIPSIS}${value.slice(-4)}`;
}

/**
 * The config as a `PUT` gave it, with any masked value the client sent back unchanged (a GET
 * copied into a PUT) replaced by the stored secret it stands for. Any other masked-looking value
 * is refused: it would be stored as the URL and every send would fail.
 */
export function restoreSecretConfig(
  definition: SecretFields,
  config: Fields,
  stored: { config: Fields; credentials: Fields } | null,
): Fields {
  const restored = { ...config };
  for (const field of definition.secretConfig ?? []) {
    const value = config[field];
    if (typeof value !== 'string' || !value.includes(ELLIPSIS)) continue;
    const secret = stored?.credentials[sealedKey(field)];
    if (stored && value === stored.config[field] && typeof secret === 'string') {
      restored[field] = secret;
      continue;
    }
    throw new ProviderConfigError(
      `config.${field}`,
      'is the masked form GET shows; give the whole URL (it is stored sealed and never returned)',
    );
  }
  return restored;
}

/**
 * Splits a full config for storage: the config with its secret fields masked, and the
 * credentials to seal with those secrets added (replacing any stored before).
 */
export function splitSecretConfig(
  definition: SecretFields,
  config: Fields,
  credentials: Fields,
): { config: Fields; credentials: Fields } {
  const fields = definition.secretConfig ?? [];
  if (fields.length === 0) return { config, credentials };
  const masked = { ...config };
  const sealed: Fields = Object.fromEntries(
    Object.entries(credentials).filter(([key]) => !key.startsWith('config.')),
  );
  for (const field of fields) {
    const value = config[field];
    if (typeof value !== 'string') continue;
    masked[field] = maskSecret(value);
    sealed[sealedKey(field)] = value;
  }
  return { config: masked, credentials: sealed };
}

/** The config a provider is built from: the stored (masked) config with its secrets put back. */
export function withSecretConfig(definition: SecretFields, stored: Fields, credentials: Fields): Fields {
  const fields = definition.secretConfig ?? [];
  if (fields.length === 0) return stored;
  const config = { ...stored };
  for (const field of fields) {
    const secret = credentials[sealedKey(field)];
    if (typeof secret === 'string') config[field] = secret;
  }
  return config;
}
