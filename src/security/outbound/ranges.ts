import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Address ranges a tenant-directed connection must not reach unless the operator allows them
 * (TIDINGS_ALLOW_PRIVATE_TARGETS): everything that is not a public unicast address on the
 * internet, because from inside our network these reach our own services, not the tenant's.
 */
const BLOCKED_IPV4: readonly [string, number][] = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 itself connects to the local host
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, holds the cloud metadata service
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments (NAT64 discovery, DS-Lite…)
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
];

const BLOCKED_IPV6: readonly [string, number][] = [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible forms (::a.b.c.d)
  ['::ffff:0:0:0', 96], // IPv4-translated (SIIT, RFC 2765): never a host we should reach
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215)
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments, Teredo included
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation (RFC 9637)
  ['fc00::', 7], // unique local, fd00:ec2::254 (AWS metadata) included
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

/**
 * Cloud metadata services: credentials for the machine we run on. They stay blocked even under
 * `TIDINGS_ALLOW_PRIVATE_TARGETS=all`; only a CIDR that names them lets them through.
 */
const METADATA: readonly string[] = [
  '169.254.169.254', // AWS, GCP, Azure, OpenStack, Oracle…
  '168.63.129.16', // Azure wire server (a public address only Azure VMs reach)
  '100.100.100.200', // Alibaba Cloud
  'fd00:ec2::254', // AWS over IPv6
];

const blocked = new BlockList();
for (const [network, prefix] of BLOCKED_IPV4) blocked.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of BLOCKED_IPV6) blocked.addSubnet(network, prefix, 'ipv6');
blocked.addAddress('168.63.129.16', 'ipv4');

const metadata = new BlockList();
for (const address of METADATA) metadata.addAddress(address, isIPv4(address) ? 'ipv4' : 'ipv6');

/**
 * The forms an address can take on the wire: itself and, for IPv6 that carries an IPv4 address
 * (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16), that IPv4
 * address, which is where the packets end up.
 */
export function addressForms(address: string): string[] {
  const ip = withoutZone(address);
  if (!isIPv6(ip)) return [ip];
  const embedded = embeddedIPv4(ip);
  return embedded ? [ip, embedded] : [ip];
}

/** True when `address` (any form) lies in a blocked range. */
export function isNonPublicAddress(address: string): boolean {
  return addressForms(address).some((form) => blocked.check(form, family(form)));
}

/** True when `address` (any form) is a cloud metadata service. */
export function isMetadataAddress(address: string): boolean {
  return addressForms(address).some((form) => metadata.check(form, family(form)));
}

export function family(address: string): 'ipv4' | 'ipv6' {
  return isIPv4(address) ? 'ipv4' : 'ipv6';
}

/** `fe80::1%eth0` → `fe80::1`: the zone picks an interface, not a different address. */
export function withoutZone(address: string): string {
  const percent = address.indexOf('%');
  return percent === -1 ? address : address.slice(0, percent);
}

/** The IPv4 address inside an IPv6 one that carries it, else null. */
export function embeddedIPv4(ipv6: string): string | null {
  const groups = ipv6Groups(ipv6);
  if (!groups) return null;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  const dotted = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible)
  if (zeros(0, 5) && (groups[5] === 0xffff || groups[5] === 0)) return dotted(groups[6]!, groups[7]!);
  // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6)) return dotted(groups[6]!, groups[7]!);
  // 2002:aabb:ccdd::/48 (6to4)
  if (groups[0] === 0x2002) return dotted(groups[1]!, groups[2]!);
  return null;
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad allowed), or null. */
function ipv6Groups(address: string): number[] | null {
  let text = address.toLowerCase();
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // a.b.c.d at the end is the last two groups written in decimal.
    if (!isIPv4(last)) return null;
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}
