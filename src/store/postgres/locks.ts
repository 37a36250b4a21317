/**
 * Session advisory lock keys, one per purpose, all in one place: two purposes sharing a key
 * would wait on (or be refused by) each other. Partition and key-seeding locks are hashes of
 * their names instead (pg_advisory_xact_lock(hashtextextended(…))).
 */
export const ADVISORY_LOCKS = {
  /** Every process that migrates takes it first: processes started together migrate once. */
  migrations: 7_146_104_902,
  /** One `tidings migrate --from` copy into a database at a time. */
  transfer: 7_146_104_903,
  /** One process at a time vacuums the job queue. */
  jobVacuum: 7_146_104_904,
} as const;
