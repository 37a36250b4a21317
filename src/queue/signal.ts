import type { Lane } from '../shared/model.ts';

type Listener = (lane: Lane | null) => void;

/**
 * In-process wake-up for idle workers: whoever commits new jobs calls `notify`, so a worker
 * starts on them at once instead of waiting for its next poll. (Across processes the
 * PostgreSQL adapter feeds LISTEN/NOTIFY into the same signal.)
 */
export class JobSignal {
  private readonly listeners = new Set<Listener>();

  /** Tells listeners that jobs are ready, in `lane` (or in any lane when null). */
  notify(lane: Lane | null = null): void {
    for (const listener of this.listeners) listener(lane);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
