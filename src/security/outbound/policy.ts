import { isIP } from 'node:net';
import type { AllowList } from './allow-list.ts';
import { addressForms, family, isMetadataAddress, isNonPublicAddress, withoutZone } from './ranges.ts';

/**
 * The private-target rule: which addresses a connection made on a tenant's behalf may reach.
 * Pure (no I/O): the HTTP dispatcher and the SMTP connector ask it about every address they
 * resolved, the integration routes about literal hosts.
 */
export class TargetPolicy {
  constructor(private readonly allow: AllowList) {}

  /** True when a connection to `address` (an IP literal) must not be made. */
  isBlocked(address: string): boolean {
    if (!isNonPublicAddress(address)) return false;
    if (this.isListed(address)) return false;
    return !(this.allow.all && !isMetadataAddress(address));
  }

  /**
   * What can be said about a host offline, before any DNS: `blocked` for an IP literal the rule
   * refuses and for names that always mean this machine (`localhost`, `*.localhost`, RFC 6761),
   * else `unknown` (a name: checked after resolution, at connect time).
   */
  classifyHost(host: string): 'blocked' | 'unknown' | 'allowed' {
    const name = hostWithoutDecoration(host);
    if (isIP(name)) return this.isBlocked(name) ? 'blocked' : 'allowed';
    if (name === 'localhost' || name.endsWith('.localhost')) {
      return this.isBlocked('127.0.0.1') ? 'blocked' : 'allowed';
    }
    return 'unknown';
  }

  private isListed(address: string): boolean {
    return addressForms(address).some((form) => this.allow.networks.check(form, family(form)));
  }
}

/** `[::1]` → `::1`, `Example.COM.` → `example.com`, `fe80::1%eth0` → `fe80::1`. */
export function hostWithoutDecoration(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return withoutZone(bare).toLowerCase().replace(/\.+$/, '');
}

/**
 * The host as a WHATWG URL reads it, so odd IPv4 spellings become the address a resolver would
 * connect to (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1` → `127.0.0.1`). Null when it is
 * not a host at all (contains a path, credentials, spaces…).
 */
export function normaliseHost(host: string): string | null {
  const bracketed = isIP(host) === 6 ? `[${host}]` : host;
  let url: URL;
  try {
    url = new URL(`http://${bracketed}/`);
  } catch {
    return null;
  }
  if (url.username || url.password || url.port || url.pathname !== '/' || url.search || url.hash) return null;
  // A host that named a port or path would have changed the URL's shape; the host must be all of it.
  if (url.hostname.length === 0) return null;
  return url.hostname;
}
