import { isIP } from 'node:net';

// A DNS host name: letter-digit-hyphen labels (underscores too, as internal names have them) of at
// most 63 characters, dot-separated, with an optional final dot.
const HOST_NAME =
  /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

// WHATWG URL parsing reads these as IPv4 numbers (`2130706433`, `0x7f000001`, `0177.0.0.1`,
// `127.1`); only some resolvers do, so as a host written out they name nothing for sure.
const NUMBER = /^(?:0x[0-9a-f]*|[0-9]+)$/i;

/**
 * True when `host` is something a connection can be opened to as written: a DNS host name (an
 * internationalised one in its xn-- form, as URL parsing leaves it), an IPv4 address in dotted
 * decimal, or an IPv6 address (bare, or in brackets as URLs write it). Not a URL, `host:port`,
 * quotes, spaces or other characters no DNS name holds, which URL parsing lets through in a host
 * (`https://"hooks.example.com"/`) and which fail every send at the lookup.
 */
export function isHostNameOrAddress(host: string): boolean {
  const bracketed = host.startsWith('[') && host.endsWith(']');
  const bare = bracketed ? host.slice(1, -1) : host;
  const literal = isIP(bare);
  if (literal !== 0) return literal === 6 || !bracketed;
  if (host.length > 253 || !HOST_NAME.test(host)) return false;
  const last = host.replace(/\.$/, '').split('.').at(-1) ?? '';
  return !NUMBER.test(last);
}
