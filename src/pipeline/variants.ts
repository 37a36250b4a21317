import type { WorkflowChannelStep } from '../shared/model.ts';

/**
 * A/B variants (API.md "Templates"): a step's `variants` split its recipients by weight, and a
 * subscriber always gets the same variant of a workflow — the pick is a stable hash of the
 * subscriber id and the workflow key (FNV-1a, 32 bits: uniform enough for weights, and the same
 * on every process and after every restart), never a random draw.
 */

/** FNV-1a over the UTF-16 code units of `text`, as an unsigned 32-bit number. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // A last avalanche round, so ids that differ only at the end still spread over the range.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return hash >>> 0;
}

/** Which variant (index) of a step `subscriberId` gets: 0 for a step without variants. */
export function variantIndex(step: WorkflowChannelStep, subscriberId: string, workflowKey: string): number {
  const variants = step.variants;
  if (!variants || variants.length < 2) return 0;
  let total = 0;
  for (const variant of variants) total += variant.weight;
  if (total <= 0) return 0;
  let point = stableHash(`${workflowKey}\u0000${subscriberId}`) % total;
  for (let i = 0; i < variants.length; i++) {
    point -= variants[i]!.weight;
    if (point < 0) return i;
  }
  return variants.length - 1;
}
