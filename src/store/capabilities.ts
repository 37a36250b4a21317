/**
 * What a storage backend can do, as data: callers ask these questions instead of testing which
 * dialect they hold.
 */
export interface StoreCapabilities {
  /** Claims skip rows another claimer holds instead of waiting for them (FOR UPDATE SKIP LOCKED). */
  readonly skipLocked: boolean;
  /** Commits can wake idle workers in other processes (LISTEN/NOTIFY); see Store.openChannel. */
  readonly crossProcessWakeups: boolean;
  /** One writer at a time per database: a process's threads queue on a shared write lock. */
  readonly singleWriter: boolean;
  /** Concurrent first runs serialise their migrations and seeding on database locks (advisory locks). */
  readonly advisoryLocks: boolean;
  /** Any number of machines can share it (not only processes of one host). */
  readonly networked: boolean;
}

export const SQLITE_CAPABILITIES: StoreCapabilities = Object.freeze({
  skipLocked: false,
  crossProcessWakeups: false,
  singleWriter: true,
  advisoryLocks: false,
  networked: false,
});

export const POSTGRES_CAPABILITIES: StoreCapabilities = Object.freeze({
  skipLocked: true,
  crossProcessWakeups: true,
  singleWriter: false,
  advisoryLocks: true,
  networked: true,
});
