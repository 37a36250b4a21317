import type { Lane } from '../shared/model.ts';

/** Where a wake-up came from: this process, or another one (relayed by the store). */
export type SignalOrigin = 'local' | 'remote';
type Listener = (lane: Lane | null, origin: SignalOrigin) => void;

/**
 * In-process wake-up for idle workers: whoever commits new jobs calls `notify`, so a worker
 * starts on them at once instead of waiting for its next poll. Across processes, a store with
 * cross-process wake-ups relays local notifications out and feeds others' in as 'remote' (see
 * relayJobSignal), so a relayed wake-up is never sent back out.
 */
export class JobSignal {
  private readonly listeners = new Set<Listener>();

  /** Tells listeners that jobs are ready, in `lane` (or in any lane when null). */
  notify(lane: Lane | null = null, origin: SignalOrigin = 'local'): void {
    for (const listener of this.listeners) listener(lane, origin);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
