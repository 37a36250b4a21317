import type { Dispatcher } from 'undici';
import { BlockedTargetError, isBlockedTargetError } from '../security/outbound/index.ts';
import { neverConnected } from './never-connected.ts';
import type { SendOutcome } from './port.ts';

/**
 * Provider answers are small JSON documents; anything longer is cut here, so a misbehaving
 * endpoint cannot make a send buffer megabytes.
 */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The answer's body as text, at most 64 KiB of it; the rest is discarded unread. */
export async function readBodyText(response: Dispatcher.ResponseData): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      chunks.push(buffer.subarray(0, MAX_ANSWER_BYTES - size));
      size += buffer.length;
      if (size >= MAX_ANSWER_BYTES) break;
    }
  } catch {
    // A body cut off mid-way: classify on what arrived.
  }
  // Leaving the loop early does not drain the rest; destroying frees the connection.
  if (size >= MAX_ANSWER_BYTES) response.body.destroy();
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A request that got no answer. A blocked target is final; refused, reset, unreachable,
 * unresolvable and timed out read the same (so sends cannot map which hosts exist) and are retried.
 * When `host` belongs to the integration (FCM's API, not a subscriber's push service) and no
 * connection was ever made, the integration is down: `integrationFailed`, so the send fails over.
 */
export function requestFailure(
  err: unknown,
  host: string,
  who: string,
  hostIsTheIntegrations = false,
): Extract<SendOutcome, { kind: 'blocked_target' | 'retryable' }> {
  if (isBlockedTargetError(err))
    return { kind: 'blocked_target', reason: new BlockedTargetError(host).message };
  const reason = `no response from ${who} (connection failed or timed out)`;
  return hostIsTheIntegrations && neverConnected(err)
    ? { kind: 'retryable', reason, integrationFailed: true }
    : { kind: 'retryable', reason };
}
