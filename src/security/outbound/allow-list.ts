import { BlockList, isIP } from 'node:net';
import { family } from './ranges.ts';

/** The setting this module reads; named in every message about it. */
export const ALLOW_PRIVATE_TARGETS_ENV = 'TIDINGS_ALLOW_PRIVATE_TARGETS';

/** What the operator lets tenant-directed connections reach beyond the public internet. */
export interface AllowList {
  /** `all`: every non-public range (cloud metadata still needs a CIDR that names it). */
  readonly all: boolean;
  /** The listed networks (empty when none or `all`). */
  readonly networks: BlockList;
  /** The value as given, for messages. */
  readonly source: string | null;
}

/** A TIDINGS_ALLOW_PRIVATE_TARGETS value that cannot be read; the message says how to fix it. */
export class AllowListError extends Error {
  override name = 'AllowListError';
}

/**
 * Reads TIDINGS_ALLOW_PRIVATE_TARGETS: unset/empty (nothing allowed), `all`, or a
 * comma-separated list of CIDRs, IPv4 or IPv6 (`10.0.0.0/8,127.0.0.1/32,::1/128`); a bare
 * address stands for itself alone. Anything else throws {@link AllowListError}.
 */
export function parseAllowList(raw: string | null | undefined): AllowList {
  const value = raw?.trim() ?? '';
  const networks = new BlockList();
  if (value === '') return { all: false, networks, source: null };
  if (value.toLowerCase() === 'all') return { all: true, networks, source: value };
  for (const entry of value.split(',')) {
    const cidr = entry.trim();
    if (cidr === '') continue;
    const [address = '', prefixText, ...extra] = cidr.split('/');
    const version = isIP(address);
    const max = version === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (
      version === 0 ||
      extra.length > 0 ||
      (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) ||
      prefix > max
    ) {
      throw new AllowListError(
        `${ALLOW_PRIVATE_TARGETS_ENV}: ${JSON.stringify(cidr)} is not a CIDR; use a comma-separated list such as 10.0.0.0/8,127.0.0.1/32,::1/128, or all.`,
      );
    }
    networks.addSubnet(address, prefix, family(address));
  }
  return { all: false, networks, source: value };
}
