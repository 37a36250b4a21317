import { createPrivateKey, type KeyObject } from 'node:crypto';
import { ProviderConfigError } from '../port.ts';

/** What the adapter needs from a Google service-account key file. */
export interface ServiceAccount {
  /** RS256 signing key (`private_key`, PKCS#8 PEM). */
  privateKey: KeyObject;
  /** `client_email`: the JWT assertion's `iss` and `sub`. */
  clientEmail: string;
  /** `token_uri`: where assertions are exchanged for access tokens (a target, see the catalog). */
  tokenUri: URL;
}

const FIELD = 'credentials.serviceAccount';

/**
 * Reads the service-account JSON as Google hands it out (an object, or the file's text), offline.
 * Throws {@link ProviderConfigError} naming the field that is missing or unusable, so a bad key
 * file is a 422 at `PUT`, not a failure at the first send.
 */
export function parseServiceAccount(value: unknown): ServiceAccount {
  const file = serviceAccountObject(value);
  if (file.type !== undefined && file.type !== 'service_account') {
    throw new ProviderConfigError(
      `${FIELD}.type`,
      `is ${JSON.stringify(file.type)}; a service-account key file (type "service_account") is required`,
    );
  }
  return {
    privateKey: rsaKey(file.private_key),
    clientEmail: clientEmail(file.client_email),
    tokenUri: tokenUri(file.token_uri),
  };
}

/**
 * The `token_uri` host of a service account given as an object or its text, for the
 * private-target check; null when it cannot be read (parseServiceAccount then says why).
 */
export function serviceAccountTokenHost(value: unknown): string | null {
  try {
    return tokenUri(serviceAccountObject(value).token_uri).hostname;
  } catch {
    return null;
  }
}

function serviceAccountObject(value: unknown): Record<string, unknown> {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new ProviderConfigError(FIELD, 'is not JSON: give the service-account key file or its text');
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ProviderConfigError(FIELD, 'must be the service-account key file (a JSON object)');
  }
  return parsed as Record<string, unknown>;
}

function rsaKey(pem: unknown): KeyObject {
  const path = `${FIELD}.private_key`;
  if (typeof pem !== 'string' || pem.trim() === '') throw new ProviderConfigError(path, 'is required');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new ProviderConfigError(path, 'is not a PEM private key');
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new ProviderConfigError(path, `is a ${key.asymmetricKeyType} key; Google signs with RSA (RS256)`);
  }
  return key;
}

function clientEmail(email: unknown): string {
  const path = `${FIELD}.client_email`;
  if (typeof email !== 'string' || email === '') throw new ProviderConfigError(path, 'is required');
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw new ProviderConfigError(path, 'is not an email address');
  return email;
}

function tokenUri(uri: unknown): URL {
  const path = `${FIELD}.token_uri`;
  if (typeof uri !== 'string' || uri === '') throw new ProviderConfigError(path, 'is required');
  const url = URL.canParse(uri) ? new URL(uri) : null;
  if (url?.protocol !== 'https:' && url?.protocol !== 'http:') {
    throw new ProviderConfigError(path, 'must be an http(s) URL');
  }
  if (url.username || url.password) throw new ProviderConfigError(path, 'must not carry a user or password');
  return url;
}
