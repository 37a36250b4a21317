import { lookup } from 'node:dns/promises';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import type { ProviderContext } from '../../src/channels/port.ts';
import { parseAllowList } from '../../src/security/outbound/allow-list.ts';
import { createOutboundGuard, type OutboundGuard, TargetPolicy } from '../../src/security/outbound/index.ts';

/**
 * TIDINGS_ALLOW_PRIVATE_TARGETS for tests whose fakes listen on loopback: providers refuse
 * loopback targets unless the operator lists them.
 */
export const LOOPBACK_TARGETS = '127.0.0.1/32,::1/128';

/** A provider context whose guard lets loopback fakes through (and nothing else private). */
export function loopbackContext(): ProviderContext & { outbound: OutboundGuard } {
  return { outbound: createOutboundGuard(LOOPBACK_TARGETS) };
}

/** A provider context with the default rule: no private target at all. */
export function strictContext(): ProviderContext & { outbound: OutboundGuard } {
  return { outbound: createOutboundGuard(null) };
}

/** A loopback port nothing listens on: connections to it are refused, so sends to it keep retrying. */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * A name that resolves (through the system resolver, /etc/hosts included) only to addresses the
 * default rule blocks, and that no offline check can refuse: the machine's own host name, in most
 * setups; null where there is none (tests that need one skip).
 */
export async function privateDnsName(): Promise<string | null> {
  const strict = new TargetPolicy(parseAllowList(null));
  const name = hostname();
  if (!name || name === 'localhost' || name.endsWith('.localhost')) return null;
  try {
    const addresses = await lookup(name, { all: true });
    return addresses.length > 0 && addresses.every((a) => strict.isBlocked(a.address)) ? name : null;
  } catch {
    return null;
  }
}
