import type { ScenarioContext } from './scenarios.ts';
import { type BenchServer, JSON_HEADERS } from './server.ts';
import { fmt, round } from './stats.ts';

/**
 * The cost of policy on the delivery path (issue 10, part 7): with `--policy`, `e2e-topic` and
 * `e2e-bulk` run back to back on fresh servers, differing only in policy:
 *
 *   plain         the `bench` workflow as always;
 *   policy        the workflow carries a per-subscriber rate limit far above what the run sends
 *                 (every counter is taken, nothing is dropped) and one recipient in ten has stored
 *                 preferences, some of which opt out (those messages end `suppressed`);
 *   policy-drops  the same plus a tenant-wide limit at 80 % of the run, so the limit does drop
 *                 messages (`rate_limited`); reported separately, it has less to render.
 *
 * Every run first creates the recipients that hold preferences in the policy runs (as topic
 * members), so the runs start from the same subscribers. Seeding is not measured. The clock
 * stops when every recipient has its in-app message row, whatever its status: a suppressed or
 * rate-limited message is a row too, written by the same deliver job.
 */

export type VariantKey = 'plain' | 'policy' | 'policy-drops';

export interface E2eVariant {
  key: VariantKey;
  /** Appended to the scenario's server name (`e2e-bulk+policy`): profiles and data dirs apart. */
  serverSuffix: string;
  /** Appended to row names: '' for plain, so `--policy` leaves the plain rows as they were. */
  rowSuffix: string;
}

const PLAIN: E2eVariant = { key: 'plain', serverSuffix: '', rowSuffix: '' };
const VARIANTS: E2eVariant[] = [
  PLAIN,
  { key: 'policy', serverSuffix: '+policy', rowSuffix: ' with policy' },
  { key: 'policy-drops', serverSuffix: '+policy-drops', rowSuffix: ' with policy, limit drops' },
];

export function e2eVariants(policy: boolean): E2eVariant[] {
  return policy ? VARIANTS : [PLAIN];
}

/** One recipient in ten (by index) holds preferences. */
const HOLDER_EVERY = 10;
/** The tenant-wide limit of `policy-drops`, as a share of the run's messages. */
const DROPS_TENANT_SHARE = 0.8;
/** Far above any recipient's messages in a run (e2e-bulk sends each subscriber 10 events). */
const GENEROUS_PER_SUBSCRIBER = { per: 'subscriber', limit: 1000, window: '1h' } as const;

export function holdsPreferences(index: number): boolean {
  return index % HOLDER_EVERY === 0;
}

/**
 * What holder `index` stored: four kinds in turn, two of which stop the bench's in-app message
 * (a channel opt-out, a disabled workflow) and two that plan() reads but that let it through
 * (other channels off; quiet hours, which never hold an inbox row, and a category the workflow
 * does not have).
 */
export function preferencesOf(index: number): Record<string, unknown> {
  switch ((index / HOLDER_EVERY) % 4) {
    case 0:
      return { channels: { email: false, sms: false } };
    case 1:
      return { channels: { in_app: false } };
    case 2:
      return { quietHours: { start: '22:00', end: '07:00' }, categories: { marketing: { email: false } } };
    default:
      return { workflows: { bench: { enabled: false } } };
  }
}

/** Whether the bench's in-app message to recipient `index` ends `suppressed` in the policy runs. */
export function suppressed(index: number): boolean {
  if (!holdsPreferences(index)) return false;
  const kind = (index / HOLDER_EVERY) % 4;
  return kind === 1 || kind === 3;
}

/** The `bench` workflow's rate limit for a variant; `messages` = in-app messages the run makes. */
function rateLimitOf(variant: VariantKey, messages: number) {
  if (variant === 'plain') return null;
  if (variant === 'policy') return [GENEROUS_PER_SUBSCRIBER];
  // A day window: a run of a minute straddles a boundary (and so drops fewer) once in 1,440.
  return [
    GENEROUS_PER_SUBSCRIBER,
    { per: 'tenant', limit: Math.floor(messages * DROPS_TENANT_SHARE), window: '1d' },
  ];
}

/** What the policy runs should end with, to check that policy did what it says. */
export interface Expected {
  suppressed: number;
  rateLimited: number;
}

/**
 * Prepares `server` for `variant` before the clock starts: in the policy runs the holders (who
 * must exist already, in every variant alike) get their preferences and the workflow its limit.
 * `recipients` lists the recipient index of every in-app message the run will make.
 */
export async function preparePolicy(
  ctx: ScenarioContext,
  server: BenchServer,
  variant: VariantKey,
  holderIds: { index: number; id: string }[],
  recipients: Iterable<number>,
  messages: number,
): Promise<Expected> {
  const started = performance.now();
  const limit = rateLimitOf(variant, messages);
  if (limit === null) return { suppressed: 0, rateLimited: 0 };
  await server.api('PUT', '/v1/workflows/bench', {
    channels: [{ channel: 'in_app', template: { title: 'Hi {{ data.n }}', body: 'Order {{ data.order }}' } }],
    rateLimit: limit,
  });
  await patchAll(
    server,
    holderIds.map((h) => ({ id: h.id, body: preferencesOf(h.index) })),
  );
  let suppressedCount = 0;
  for (const index of recipients) if (suppressed(index)) suppressedCount++;
  const tenantLimit = limit.find((rule) => rule.per === 'tenant')?.limit;
  const rateLimited = tenantLimit === undefined ? 0 : Math.max(0, messages - suppressedCount - tenantLimit);
  ctx.log(
    `${fmt(holderIds.length)} subscribers with preferences, rate limit ${JSON.stringify(limit)} ` +
      `(seeded in ${fmt((performance.now() - started) / 1000, 1)} s); expecting ` +
      `${fmt(suppressedCount)} suppressed, ${fmt(rateLimited)} rate_limited`,
  );
  return { suppressed: suppressedCount, rateLimited };
}

/** PATCHes each subscriber's preferences through the public API, a few at a time. */
async function patchAll(server: BenchServer, items: { id: string; body: unknown }[]): Promise<void> {
  const connections = 8;
  const pool = server.pool(connections);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const { id, body } = items[next++]!;
      const res = await pool.request({
        path: `/v1/subscribers/${encodeURIComponent(id)}/preferences`,
        method: 'PATCH',
        headers: JSON_HEADERS,
        body: JSON.stringify(body),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200)
        throw new Error(`PATCH preferences of ${id} → ${res.statusCode}: ${text.slice(0, 300)}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    await server.closePool(pool);
  }
}

/** The run's in-app messages by status (delivered, suppressed, rate_limited, …). */
export function inAppStatuses(server: BenchServer): Record<string, number> {
  const rows = server
    .db()
    .prepare(`SELECT status, COUNT(*) AS n FROM messages WHERE channel = 'in_app' GROUP BY status`)
    .all() as { status: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/**
 * Rows that show the policy run did what it says (the counts it should end with), so a run
 * whose preferences or limit silently did nothing cannot pass for a cheap one.
 */
export function policyCheckRows(
  ctx: ScenarioContext,
  variant: E2eVariant,
  expected: Expected,
  statuses: Record<string, number>,
): void {
  if (variant.key === 'plain') return;
  ctx.row(`suppressed${variant.rowSuffix}`, statuses.suppressed ?? 0, '', {
    op: '==',
    value: expected.suppressed,
  });
  ctx.row(`rate_limited${variant.rowSuffix}`, statuses.rate_limited ?? 0, '', {
    op: '==',
    value: expected.rateLimited,
  });
}

/** The comparison rows: each policy run's deliveries/s against the plain run's, back to back. */
/**
 * The server's CPU per 1,000 deliveries from the first send until every row existed (the
 * seeding before is not counted); answers it, or null where /proc cannot say.
 */
export function cpuRow(
  ctx: ScenarioContext,
  variant: E2eVariant,
  cpuMs: number | null,
  deliveries: number,
): number | null {
  if (cpuMs === null || deliveries === 0) return null;
  const perThousand = (cpuMs / deliveries) * 1000;
  ctx.row(`server CPU per 1,000 deliveries${variant.rowSuffix}`, perThousand, 'ms');
  return perThousand;
}

/**
 * `with policy / without` by throughput (the target) and by the server's CPU per delivery
 * (without / with, so that below 1 is a cost as well): on a shared machine the second says what
 * policy costs when the first is swamped by the neighbours' load.
 */
export function ratioRows(
  ctx: ScenarioContext,
  rates: Map<VariantKey, number>,
  cpus: Map<VariantKey, number | null> = new Map(),
): void {
  const plainCpu = cpus.get('plain');
  const policyCpu = cpus.get('policy');
  if (plainCpu && policyCpu) ctx.row('CPU per delivery, without / with policy', plainCpu / policyCpu, '×');
  const plain = rates.get('plain');
  if (plain === undefined || rates.size < 2) return;
  const policy = rates.get('policy');
  const drops = rates.get('policy-drops');
  if (policy !== undefined) {
    ctx.row('with policy / without', policy / plain, '×', { op: '>=', value: 0.9 });
  }
  if (drops !== undefined) {
    ctx.row('with policy, limit drops / without', drops / plain, '×', undefined, 'reported apart');
  }
  ctx.detail('policyRatios', {
    plain: round(plain, 1),
    policy: policy === undefined ? null : round(policy, 1),
    policyDrops: drops === undefined ? null : round(drops, 1),
  });
}
