import { LANES, type Lane } from '../shared/model.ts';

/** Relative claim weights: when every lane has work, critical gets 8 slots for each bulk one. */
export const LANE_WEIGHTS: Readonly<Record<Lane, number>> = Object.freeze({
  critical: 8,
  high: 4,
  normal: 2,
  bulk: 1,
});

/**
 * The largest share of a worker's slots a lane may hold. Lower lanes can never fill a worker,
 * so a critical job always finds a free slot within one claim cycle.
 */
export const LANE_MAX_SHARE: Readonly<Record<Lane, number>> = Object.freeze({
  critical: 1,
  high: 0.9,
  normal: 0.75,
  bulk: 0.5,
});

export interface LaneLoad {
  concurrency: number;
  inFlight: Readonly<Record<Lane, number>>;
  /** Lanes believed to have ready work; the free slots are shared among these by weight. */
  active: ReadonlySet<Lane>;
}

/**
 * How many jobs to claim from each lane this cycle (weighted fair sharing of the free slots),
 * in priority order.
 *
 * @example
 * laneQuotas({ concurrency: 10, inFlight: { critical: 0, high: 0, normal: 0, bulk: 0 }, active: new Set(['bulk']) });
 * // [{ lane: 'bulk', limit: 5 }]
 */
export function laneQuotas(load: LaneLoad): { lane: Lane; limit: number }[] {
  const busy = LANES.reduce((sum, lane) => sum + load.inFlight[lane], 0);
  const free = load.concurrency - busy;
  if (free <= 0) return [];
  const lanes = load.active.size > 0 ? LANES.filter((lane) => load.active.has(lane)) : [...LANES];
  const totalWeight = lanes.reduce((sum, lane) => sum + LANE_WEIGHTS[lane], 0);
  const quotas: { lane: Lane; limit: number }[] = [];
  for (const lane of lanes) {
    // Every lane may hold at least one slot, so a tiny worker still serves all lanes.
    const room = Math.max(1, Math.floor(load.concurrency * LANE_MAX_SHARE[lane])) - load.inFlight[lane];
    const share = Math.max(1, Math.round((free * LANE_WEIGHTS[lane]) / totalWeight));
    const limit = Math.min(room, share, free);
    if (limit > 0) quotas.push({ lane, limit });
  }
  return quotas;
}

/** How many jobs of one lane a claim may take per tenant: `byTenant`'s, else `fresh`. */
export interface TenantCaps {
  /** The cap of a tenant holding none of the lane's slots here. */
  fresh: number;
  byTenant: Readonly<Record<string, number>>;
}

/**
 * How much of a lane's slots each tenant may take in one claim (see ClaimRequest): a quarter of
 * the lane's room always, and more only while the lane is below three quarters full. So a tenant
 * whose jobs hang (a provider that never answers, a slow webhook) holds at most three quarters of
 * a lane, and the last quarter stays free for the others' work; a lone tenant still uses three
 * quarters. `held`: the lane's jobs in flight here, by tenant.
 */
export function tenantCaps(
  lane: Lane,
  concurrency: number,
  inFlight: number,
  held: ReadonlyMap<string, number>,
): TenantCaps {
  const room = Math.max(1, Math.floor(concurrency * LANE_MAX_SHARE[lane]));
  const quarter = Math.max(1, Math.floor(room / 4));
  const belowThreeQuarters = Math.max(0, room - quarter - inFlight);
  const byTenant: Record<string, number> = {};
  for (const [tenant, count] of held) byTenant[tenant] = Math.max(quarter - count, belowThreeQuarters);
  return { fresh: Math.max(quarter, belowThreeQuarters), byTenant };
}

/**
 * The most of a worker's slots one tenant may hold, all lanes together, by the lane a job is
 * claimed from (workerCaps). High work may go past the bound of normal and bulk work, and
 * critical work past that of high work: a tenant whose newsletter and high-priority sends hang
 * at a slow provider still gets its MFA codes out, and the last eighth of the worker stays the
 * others' whatever the tenant sends.
 */
export const TENANT_WORKER_SHARE: Readonly<Record<Lane, number>> = Object.freeze({
  critical: 7 / 8,
  high: 13 / 16,
  normal: 3 / 4,
  bulk: 3 / 4,
});

/**
 * How many jobs each tenant may take in one claim from each lane, counting its jobs of every
 * lane (see ClaimRequest `quotas[].total`): its share of the worker (TENANT_WORKER_SHARE) less
 * what it holds. tenantCaps bounds a tenant within each lane; a tenant whose events come in every
 * priority could otherwise fill every lane's share at once and take the whole worker (a tarpit
 * webhook then held every other tenant's sends for its deadline). A lone tenant still uses three
 * quarters of the worker for normal and bulk work, as much as one lane ever gives it.
 * `held`: jobs in flight here, by tenant, all lanes together.
 */
export function workerCaps(
  concurrency: number,
  held: ReadonlyMap<string, number>,
): Readonly<Record<Lane, TenantCaps>> {
  const caps = {} as Record<Lane, TenantCaps>;
  for (const lane of LANES) {
    const kept = Math.max(1, Math.floor(concurrency * (1 - TENANT_WORKER_SHARE[lane])));
    const bound = Math.max(1, concurrency - kept);
    const byTenant: Record<string, number> = {};
    for (const [tenant, count] of held) byTenant[tenant] = Math.max(0, bound - count);
    caps[lane] = { fresh: bound, byTenant };
  }
  return caps;
}
