import { randomBytes } from 'node:crypto';
import type { TenantStore } from '../store/port.ts';
import { hashApiKey } from './secrets.ts';

/** A new secret API key: `tdk_` + 192 random bits. */
export function generateApiKey(): string {
  return `tdk_${randomBytes(24).toString('base64url')}`;
}

/** What lists show of a key: its first 8 characters (`tdk_` and 24 of its 192 random bits). */
export function keyPrefix(key: string): string {
  return key.slice(0, 8);
}

/** The default tenant and the label of its key TIDINGS_API_KEY sets (src/cli/bootstrap.ts). */
export const DEFAULT_TENANT = 'default';
export const DEFAULT_KEY_LABEL = 'default';
/** The label of a new tenant's first key, made by `POST /v1/tenants` or `tidings tenant create`. */
export const FIRST_KEY_LABEL = 'default';

/**
 * Why a key may not be made with this label, or null. Every start with TIDINGS_API_KEY replaces
 * the default tenant's keys labelled `default`: a key made under that label would be revoked by
 * the next start.
 */
export function reservedLabelProblem(tenantId: string, label: string): string | null {
  return tenantId === DEFAULT_TENANT && label === DEFAULT_KEY_LABEL
    ? `"${DEFAULT_KEY_LABEL}" is the label of the key TIDINGS_API_KEY sets, which every start replaces: choose another`
    : null;
}

/** Stores a key (its hash, never the key) under a new `key_…` id, and answers the id. */
export async function addTenantKey(
  store: Pick<TenantStore, 'addApiKey'>,
  tenantId: string,
  key: string,
  label: string,
  replace = false,
): Promise<string> {
  return store.addApiKey({ tenantId, hash: hashApiKey(key), prefix: keyPrefix(key), label }, replace);
}
