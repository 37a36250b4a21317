import { countsAgainstDailyCap, type DailyCapLayer, dailyCapScope } from '../policy/daily-cap.ts';
import {
  GRANTED,
  type RateCounterRef,
  type RateLayer,
  type RateTake,
  rateLayers,
  ruleScope,
  scopeOfRule,
  windowEnd,
} from '../policy/rate-limit.ts';
import type { TimelineEntry, WorkflowRecord } from '../shared/model.ts';
import { iso } from '../shared/time.ts';
import type { NewMessage, Store } from '../store/port.ts';

/** The messages one target (an event for some recipients) produced: `messages[start, end)`. */
export interface TargetSpan {
  tenantId: string;
  workflow: WorkflowRecord;
  start: number;
  end: number;
}

/** True when some workflow of the batch has a rate limit: only then is there any work to do. */
export function anyRateLimited(targets: readonly { workflow: WorkflowRecord }[]): boolean {
  for (const target of targets) if (target.workflow.definition.rateLimit?.length) return true;
  return false;
}

/** A layer of one workflow, with what every take of the batch shares computed once. */
interface BatchLayer {
  per: RateLayer['per'];
  limit: number;
  label: string;
  /** ruleScope: the scope's leading part. */
  rule: string;
  /** The end of the layer's window holding the batch's `now`. */
  windowEnd: number;
}

/** A workflow's layers for a batch: per message (`subscriber+channel`) and per take (the others). */
interface WorkflowLayers {
  perMessage: BatchLayer[];
  perTake: BatchLayer[];
}

function workflowLayers(workflow: WorkflowRecord, now: number): WorkflowLayers {
  const layers: WorkflowLayers = { perMessage: [], perTake: [] };
  for (const layer of rateLayers(workflow.definition.rateLimit)) {
    const batchLayer: BatchLayer = {
      per: layer.per,
      limit: layer.limit,
      label: layer.label,
      rule: ruleScope(layer, workflow.key),
      windowEnd: windowEnd(now, layer.windowMs),
    };
    (layer.per === 'subscriber+channel' ? layers.perMessage : layers.perTake).push(batchLayer);
  }
  return layers;
}

/**
 * One tenant's request: its distinct counters, the takes, and where each take's messages are.
 * Kept per batch in flat lists: most recipients are granted, so which message a refused part
 * names is worked out again from the take's run of messages only when one is refused.
 */
interface TenantRequest {
  counters: RateCounterRef[];
  labels: string[];
  byScope: Map<string, number>;
  takes: RateTake[];
  /** Per take: the run of messages `[runStart, runEnd)` of one recipient it was built from. */
  runStart: number[];
  runEnd: number[];
}

/** An empty list (a part with no counters of its own, a message no other shares): shared, never changed. */
const NO_COUNTERS: readonly number[] = Object.freeze([]);
/** The parts of a take of one message with no counters of its own, the common case. */
const ONE_PART: readonly (readonly number[])[] = Object.freeze([NO_COUNTERS]);

/**
 * Takes the workflows' rate-limit counters and the tenants' daily caps for the messages of a
 * batch that would go out (queued, deferred, or an in-app row delivered) and turns each one past
 * a limit into a `rate_limited` message naming the layer, with nothing sent and no inbox item.
 * One store call per tenant.
 *
 * `subscriber` and `tenant` layers, and the daily cap, count one per recipient per event (the
 * channels of one notification are one notification to a person); `subscriber+channel` counts
 * each message, except that the device messages of one channel (a push to each of a person's
 * phones) count once and share one answer. Workflows of a mandatory category (transactional, security) never take the daily
 * cap. `caps` holds the tenants that have one. Messages replaced in `messages`, in place.
 */
export async function applyRateLimits(
  store: Pick<Store, 'takeRateCounts'>,
  spans: readonly TargetSpan[],
  messages: NewMessage[],
  now: number,
  caps: ReadonlyMap<string, DailyCapLayer> = new Map(),
  decided: RateDecisions = new Map(),
): Promise<void> {
  const layersOf = new Map<WorkflowRecord, WorkflowLayers>();
  const requests = new Map<string, TenantRequest>();
  const takenRuns: [number, number][] = [];
  for (const span of spans) {
    let layers = layersOf.get(span.workflow);
    if (!layers) {
      layers = workflowLayers(span.workflow, now);
      layersOf.set(span.workflow, layers);
    }
    const cap = countsAgainstDailyCap(span.workflow.definition.category)
      ? caps.get(span.tenantId)
      : undefined;
    if (layers.perMessage.length === 0 && layers.perTake.length === 0 && !cap) continue;
    let request = requests.get(span.tenantId);
    if (!request) {
      request = { counters: [], labels: [], byScope: new Map(), takes: [], runStart: [], runEnd: [] };
      requests.set(span.tenantId, request);
    }
    // buildMessages writes one recipient's messages next to each other: one take per run.
    let i = span.start;
    while (i < span.end) {
      const subscriberId = messages[i]!.record.subscriberId;
      let j = i + 1;
      while (j < span.end && messages[j]!.record.subscriberId === subscriberId) j++;
      if (!decidedBefore(decided, messages, i, j, now)) {
        addTake(request, layers, cap, messages, i, j);
        takenRuns.push([i, j]);
      }
      i = j;
    }
  }
  for (const [tenantId, request] of requests) {
    if (request.takes.length === 0) continue;
    const answers = await store.takeRateCounts(tenantId, request.counters, request.takes);
    for (let t = 0; t < answers.length; t++) {
      const parts = answers[t]!;
      let refused = false;
      for (const full of parts) if (full !== GRANTED) refused = true;
      if (!refused) continue;
      // Found first, replaced after: a replaced message no longer goes out, which the walk reads.
      const refusals: { at: number; label: string }[] = [];
      forEachPart(messages, request.runStart[t]!, request.runEnd[t]!, (p, lead, sharers) => {
        const full = parts[p]!;
        if (full === GRANTED) return;
        const label = request.labels[full]!;
        refusals.push({ at: lead, label });
        for (const at of sharers) refusals.push({ at, label });
      });
      for (const { at, label } of refusals) {
        messages[at] = rateLimited(messages[at]!, label, now);
        decided.set(decisionKey(messages[at]!.record), label);
      }
    }
  }
  // What was counted, for a build of the same delivery again (its write refused): not counted twice.
  for (const [from, to] of takenRuns)
    for (let m = from; m < to; m++) {
      const key = decisionKey(messages[m]!.record);
      if (!decided.has(key) && goesOut(messages[m]!)) decided.set(key, null);
    }
}

/**
 * A delivery's rate-limit decisions, by message (decisionKey): the layer that refused it, or null
 * when it was counted and went out. A delivery built again after its write was refused (a pause or
 * a recipient's consent change since its read: src/pipeline/deliver.ts) takes these instead of
 * counting its recipients a second time, which would find their counters full of the first build's
 * counts and refuse them.
 */
export type RateDecisions = Map<string, string | null>;

function decisionKey(record: NewMessage['record']): string {
  return `${record.tenantId}\u0000${record.eventId}\u0000${record.subscriberId}\u0000${record.channel}\u0000${record.deviceId ?? ''}`;
}

/**
 * Whether every message of the run that goes out was decided by an earlier build: then those
 * decisions are applied (refusals replace their messages) and nothing is counted. A run with one
 * undecided message (a recipient whose choices changed since) is counted whole, as before.
 */
function decidedBefore(
  decided: RateDecisions,
  messages: NewMessage[],
  from: number,
  to: number,
  now: number,
): boolean {
  if (decided.size === 0) return false;
  for (let m = from; m < to; m++)
    if (goesOut(messages[m]!) && !decided.has(decisionKey(messages[m]!.record))) return false;
  for (let m = from; m < to; m++) {
    if (!goesOut(messages[m]!)) continue;
    const label = decided.get(decisionKey(messages[m]!.record));
    if (label) messages[m] = rateLimited(messages[m]!, label, now);
  }
  return true;
}

/** Whether a message built by deliver would reach anyone: only those are counted. */
function goesOut(message: NewMessage): boolean {
  const status = message.record.status;
  return status === 'queued' || status === 'deferred' || status === 'delivered';
}

/**
 * The parts of one recipient's run of messages `[from, to)`, in order: each message that goes
 * out, except that the device messages of one channel are one part, led by the first of them
 * and shared by the others. `visit` gets the part's number, its lead message and the sharers.
 */
function forEachPart(
  messages: readonly NewMessage[],
  from: number,
  to: number,
  visit: (part: number, lead: number, sharers: readonly number[]) => void,
): void {
  let part = 0;
  for (let m = from; m < to; m++) {
    if (!leadsAPart(messages, from, m)) continue;
    const { record } = messages[m]!;
    let sharers = NO_COUNTERS;
    if (record.deviceId) {
      const others: number[] = [];
      for (let other = m + 1; other < to; other++) {
        const next = messages[other]!;
        if (next.record.deviceId && next.record.channel === record.channel && goesOut(next))
          others.push(other);
      }
      sharers = others;
    }
    visit(part++, m, sharers);
  }
}

/**
 * Whether the message at `m` is a part of its recipient's take (the run from `from`): it goes out,
 * and is not a device message of a channel whose first device message came earlier.
 */
function leadsAPart(messages: readonly NewMessage[], from: number, m: number): boolean {
  const { record } = messages[m]!;
  if (!goesOut(messages[m]!)) return false;
  if (!record.deviceId) return true;
  const { channel } = record;
  for (let earlier = from; earlier < m; earlier++) {
    const other = messages[earlier]!;
    if (other.record.deviceId && other.record.channel === channel && goesOut(other)) return false;
  }
  return true;
}

/** The index of the request's counter `scope`, added on first use. */
function counterIndex(
  request: TenantRequest,
  scope: string,
  limit: number,
  end: number,
  label: string,
): number {
  let index = request.byScope.get(scope);
  if (index === undefined) {
    index = request.counters.length;
    request.byScope.set(scope, index);
    request.counters.push({ scope, limit, windowEnd: end });
    request.labels.push(label);
  }
  return index;
}

function layerCounter(
  request: TenantRequest,
  layer: BatchLayer,
  subscriberId: string,
  channel: NewMessage['record']['channel'] | null,
): number {
  const scope = scopeOfRule(layer.per, layer.rule, subscriberId, channel);
  return counterIndex(request, scope, layer.limit, layer.windowEnd, layer.label);
}

function addTake(
  request: TenantRequest,
  layers: WorkflowLayers,
  cap: DailyCapLayer | undefined,
  messages: readonly NewMessage[],
  from: number,
  to: number,
): void {
  let parts: RateTake['parts'];
  if (layers.perMessage.length === 0) {
    // No counters of their own: only how many parts there are matters.
    let count = 0;
    for (let m = from; m < to; m++) if (leadsAPart(messages, from, m)) count++;
    if (count === 0) return;
    parts = count === 1 ? ONE_PART : Array.from({ length: count }, () => NO_COUNTERS);
  } else {
    const own: number[][] = [];
    forEachPart(messages, from, to, (_, lead) => {
      const { record } = messages[lead]!;
      const counters: number[] = [];
      for (const layer of layers.perMessage)
        counters.push(layerCounter(request, layer, record.subscriberId, record.channel));
      own.push(counters);
    });
    if (own.length === 0) return;
    parts = own;
  }
  const subscriberId = messages[from]!.record.subscriberId;
  const shared: number[] = [];
  for (const layer of layers.perTake) shared.push(layerCounter(request, layer, subscriberId, null));
  // Last: when a workflow limit is also full, the timeline names the workflow's own layer.
  if (cap)
    shared.push(counterIndex(request, dailyCapScope(subscriberId), cap.limit, cap.windowEnd, cap.label));
  request.takes.push({ shared, parts });
  request.runStart.push(from);
  request.runEnd.push(to);
}
/** The message as created past a limit: nothing rendered is kept, nothing is sent. */
function rateLimited(message: NewMessage, label: string, now: number): NewMessage {
  const { record } = message;
  const entry: TimelineEntry = { at: iso(now), status: 'rate_limited', detail: label };
  // Keeps "accepted" and "routed"; rendering and queueing did not happen as far as anyone can tell.
  const timeline = [...record.timeline.slice(0, 2), entry];
  return {
    record: {
      ...record,
      status: 'rate_limited',
      provider: null,
      content: {},
      timeline,
      lastError: label,
      reason: 'rate_limited',
    },
    followUp: null,
  };
}
