import { createServer } from 'node:net';
import type { ProviderContext } from '../../src/channels/port.ts';
import { createOutboundGuard, type OutboundGuard } from '../../src/security/outbound/index.ts';

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
