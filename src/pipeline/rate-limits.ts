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

/** One tenant's request: its distinct counters, the takes, and where each answer goes. */
interface TenantRequest {
  counters: RateCounterRef[];
  labels: string[];
  byScope: Map<string, number>;
  takes: RateTake[];
  /** Per take and part: the index of its message in the batch. */
  messageAt: number[][];
  /** Messages that share the part of the message at this index (the other devices of one push). */
  sharers: Map<number, number[]>;
}

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
): Promise<void> {
  const layersOf = new Map<WorkflowRecord, WorkflowLayers>();
  const requests = new Map<string, TenantRequest>();
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
      request = {
        counters: [],
        labels: [],
        byScope: new Map(),
        takes: [],
        messageAt: [],
        sharers: new Map(),
      };
      requests.set(span.tenantId, request);
    }
    // buildMessages writes one recipient's messages next to each other: one take per run.
    let i = span.start;
    while (i < span.end) {
      const subscriberId = messages[i]!.record.subscriberId;
      let j = i;
      while (j < span.end && messages[j]!.record.subscriberId === subscriberId) j++;
      addTake(request, layers, cap, messages, i, j);
      i = j;
    }
  }
  for (const [tenantId, request] of requests) {
    if (request.takes.length === 0) continue;
    const answers = await store.takeRateCounts(tenantId, request.counters, request.takes);
    for (let t = 0; t < answers.length; t++) {
      const parts = answers[t]!;
      for (let p = 0; p < parts.length; p++) {
        const full = parts[p]!;
        if (full === GRANTED) continue;
        const at = request.messageAt[t]![p]!;
        const label = request.labels[full]!;
        messages[at] = rateLimited(messages[at]!, label, now);
        for (const m of request.sharers.get(at) ?? []) messages[m] = rateLimited(messages[m]!, label, now);
      }
    }
  }
}

/** Whether a message built by deliver would reach anyone: only those are counted. */
function goesOut(message: NewMessage): boolean {
  const status = message.record.status;
  return status === 'queued' || status === 'deferred' || status === 'delivered';
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
  const parts: number[][] = [];
  const at: number[] = [];
  // The first device message of each channel: the others of that channel share its part.
  let deviceLeads: Map<string, number> | null = null;
  for (let m = from; m < to; m++) {
    const { record } = messages[m]!;
    if (!goesOut(messages[m]!)) continue;
    if (record.deviceId) {
      deviceLeads ??= new Map();
      const lead = deviceLeads.get(record.channel);
      if (lead !== undefined) {
        const shared = request.sharers.get(lead);
        if (shared) shared.push(m);
        else request.sharers.set(lead, [m]);
        continue;
      }
      deviceLeads.set(record.channel, m);
    }
    const own: number[] = [];
    for (const layer of layers.perMessage)
      own.push(layerCounter(request, layer, record.subscriberId, record.channel));
    parts.push(own);
    at.push(m);
  }
  if (parts.length === 0) return;
  const subscriberId = messages[from]!.record.subscriberId;
  const shared: number[] = [];
  for (const layer of layers.perTake) shared.push(layerCounter(request, layer, subscriberId, null));
  // Last: when a workflow limit is also full, the timeline names the workflow's own layer.
  if (cap)
    shared.push(counterIndex(request, dailyCapScope(subscriberId), cap.limit, cap.windowEnd, cap.label));
  request.takes.push({ shared, parts });
  request.messageAt.push(at);
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
