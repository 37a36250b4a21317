/**
 * The open realtime streams of this process, grouped by owner (a tenant's subscriber), at most
 * `perOwner` each: adding one more closes that owner's oldest. Bounds what one token (or many
 * tokens of one subscriber) can hold open. Per process: with several API processes, each keeps
 * its own count.
 */
export class StreamRegistry<S> {
  // Sets keep insertion order: the first stream of an owner's set is its oldest.
  private readonly byOwner = new Map<string, Set<S>>();

  constructor(
    private readonly perOwner: number,
    private readonly close: (stream: S) => void,
  ) {}

  /** Registers an open stream; answers the function to call once it has closed. */
  add(owner: string, stream: S): () => void {
    let streams = this.byOwner.get(owner);
    if (!streams) {
      streams = new Set();
      this.byOwner.set(owner, streams);
    }
    streams.add(stream);
    while (streams.size > this.perOwner) {
      const oldest = streams.values().next().value as S;
      streams.delete(oldest);
      this.close(oldest);
    }
    const own = streams;
    return () => {
      own.delete(stream);
      if (own.size === 0 && this.byOwner.get(owner) === own) this.byOwner.delete(owner);
    };
  }

  /** How many streams `owner` holds open. */
  count(owner: string): number {
    return this.byOwner.get(owner)?.size ?? 0;
  }

  /** Closes every stream (with `close` instead of the usual way when given: a shutdown says so). */
  closeAll(close: (stream: S) => void = this.close): void {
    for (const streams of this.byOwner.values()) for (const stream of streams) close(stream);
  }
}
