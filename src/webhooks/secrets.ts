import { generateWebhookSecret, signWebhook } from '../channels/webhook/signature.ts';
import { seal, unseal } from '../security/secrets.ts';

/** How long the secret a rotation replaced keeps signing beside the new one. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60_000;

/** An endpoint's signing secrets, sealed together: the current one first. */
export interface EndpointSecrets {
  secrets: { secret: string /** epoch ms; null: the current secret */; until: number | null }[];
}

export function newEndpointSecrets(): { secret: string; secrets: EndpointSecrets } {
  const secret = generateWebhookSecret();
  return { secret, secrets: { secrets: [{ secret, until: null }] } };
}

/**
 * A rotation: a new current secret, and the one it replaces kept for {@link ROTATION_OVERLAP_MS}
 * (a secret already replaced before is dropped: at most two sign at once).
 */
export function rotateEndpointSecrets(
  stored: EndpointSecrets,
  now: number,
): { secret: string; secrets: EndpointSecrets } {
  const secret = generateWebhookSecret();
  const current = stored.secrets.find((s) => s.until === null);
  const secrets: EndpointSecrets['secrets'] = [{ secret, until: null }];
  if (current) secrets.push({ secret: current.secret, until: now + ROTATION_OVERLAP_MS });
  return { secret, secrets: { secrets } };
}

export function sealEndpointSecrets(key: Buffer, secrets: EndpointSecrets): string {
  return seal(key, secrets);
}

export function unsealEndpointSecrets(keyring: Buffer | readonly Buffer[], sealed: string): EndpointSecrets {
  return unseal<EndpointSecrets>(keyring, sealed);
}

/**
 * The `webhook-signature` header: one `v1,<base64>` per secret still signing at `now`,
 * space-separated (Standard Webhooks), so a receiver holding either secret of a rotation verifies.
 */
export function signatureHeader(
  secrets: EndpointSecrets,
  id: string,
  timestampSeconds: number,
  body: string,
  now: number,
): string {
  return secrets.secrets
    .filter((s) => s.until === null || s.until > now)
    .map((s) => signWebhook(s.secret, id, timestampSeconds, body))
    .join(' ');
}
