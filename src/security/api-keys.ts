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
