import type { Dispatcher } from 'undici';
import { httpStatusLine } from '../channels/http.ts';
import { classifyWebhookResponse, NO_RESPONSE } from '../channels/webhook/webhook.ts';
import { endpointRetryDelay } from '../policy/endpoint-retries.ts';
import { DONE, type JobHandler, type JobResult, retryAfterError } from '../queue/handler.ts';
import { isBlockedTargetError, type OutboundGuard } from '../security/outbound/index.ts';
import { iso } from '../shared/time.ts';
import type { Job, Store, WebhookEndpointRecord } from '../store/port.ts';
import type { DeliveryTally, EndpointDeliveryOutcome } from '../telemetry/delivery-tally.ts';
import { ENDPOINT_EVENT_JOB, type EndpointEventPayload, type WebhookEmitter } from './emit.ts';
import { EndpointCircuits, type EndpointPermit } from './endpoint-circuits.ts';
import { PING } from './events.ts';
import { signatureHeader, unsealEndpointSecrets } from './secrets.ts';

/** What the endpoint-event handler is built from. */
export interface EndpointDeliveryDeps {
  store: Store;
  /** The private-target rule and the pooled dispatcher (which follows no redirect). */
  outbound: OutboundGuard;
  /** Opens the sealed secrets (Keys.credentialKeyring). */
  keyring: readonly Buffer[];
  emitter: WebhookEmitter;
  /** Whole-request deadline; 10 s by default. */
  timeoutMs?: number;
  /** Counts deliveries by outcome, for /metrics. */
  tally?: DeliveryTally;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const PING_PERMIT: EndpointPermit = Object.freeze({ admitted: true, probe: false });

/**
 * `endpoint_event` jobs: one signed POST of one event to one endpoint (Standard Webhooks headers,
 * `webhook-id` fixed when the event was queued). 2xx is done; 410 Gone disables the endpoint (the
 * receiver says it is gone for good); anything else — no answer, 5xx, other 4xx, a redirect, which
 * is never followed — is tried again on the schedule of src/policy/endpoint-retries.ts, then
 * dead-lettered. An endpoint deleted or disabled since the event was queued gets nothing more.
 */
export function endpointEventHandler(deps: EndpointDeliveryDeps): JobHandler {
  const { store } = deps;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const circuits = new EndpointCircuits();
  const count = (outcome: EndpointDeliveryOutcome) => deps.tally?.endpointDelivery(outcome);

  async function deliverOne(job: Job): Promise<JobResult> {
    const { endpointId, event } = job.payload as EndpointEventPayload;
    const endpoint = await store.getWebhookEndpoint(job.tenantId, endpointId);
    if (!endpoint?.enabled) return DONE;
    // Unsubscribed from this type since it was queued: the receiver no longer wants it.
    if (event.type !== PING && !endpoint.events.includes(event.type)) return DONE;
    const url = URL.canParse(endpoint.url) ? new URL(endpoint.url) : null;
    if (!url) return DONE;
    // A ping goes whatever the circuit says: the tenant asked whether the endpoint answers.
    const ping = event.type === PING;
    const admission = ping ? PING_PERMIT : circuits.admit(endpoint, Date.now());
    if (!admission.admitted) {
      count('circuit_open');
      const { failures } = circuits.state(endpoint);
      return retryOrDead(job, `circuit open after ${failures} failed calls; no request made`, undefined);
    }
    let settled = false;
    /**
     * `delivered`: a 2xx. `up`: the receiver answered with no sign of trouble on its side — a 2xx,
     * or a 4xx it means (a 400 for one event type is no outage); no answer, 408, 425, 429 and 5xx
     * count against its circuit, as a provider's retryable answers count against an integration's.
     */
    const settle = (delivered: boolean, up: boolean, startedAt: number) => {
      settled = true;
      count(delivered ? 'delivered' : 'failed');
      if (ping) circuits.pinged(endpoint, delivered);
      else circuits.record(endpoint, admission, { ok: up, latencyMs: Date.now() - startedAt }, Date.now());
    };
    try {
      return await post(job, endpoint, url, settle);
    } finally {
      // Admitted but never made or never answered (a disabled target, a secret that does not
      // open): a probe's place is given back, or three such would hold the circuit half-open.
      if (!settled && !ping) circuits.release(endpoint, admission);
    }
  }

  async function post(
    job: Job,
    endpoint: WebhookEndpointRecord,
    url: URL,
    settle: (delivered: boolean, up: boolean, startedAt: number) => void,
  ): Promise<JobResult> {
    const { webhookId, event } = job.payload as EndpointEventPayload;
    const body = JSON.stringify(event);
    const now = Date.now();
    const timestamp = Math.floor(now / 1000);
    const secrets = unsealEndpointSecrets(deps.keyring, endpoint.sealedSecrets);
    let response: Dispatcher.ResponseData;
    try {
      response = await deps.outbound.http.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tidings-Webhook',
          'webhook-id': webhookId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(secrets, webhookId, timestamp, body, now),
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      if (isBlockedTargetError(error)) {
        // The name now resolves to a private address: no retry changes that, and no later event may go.
        await disable(endpoint, `${url.hostname} resolves to an address the private-target rule refuses`);
        return DONE;
      }
      settle(false, false, now);
      return retryOrDead(job, NO_RESPONSE, undefined);
    }
    // The receiver's body is not ours to read; dumping it frees the connection for reuse.
    await response.body.dump().catch(() => undefined);
    const retryAfter = response.headers['retry-after'];
    const outcome = classifyWebhookResponse(
      response.statusCode,
      Array.isArray(retryAfter) ? (retryAfter[0] ?? null) : (retryAfter ?? null),
      Date.now(),
    );
    settle(outcome.kind === 'accepted', outcome.kind !== 'retryable', now);
    if (outcome.kind === 'accepted') return DONE;
    if (response.statusCode === 410) {
      await disable(endpoint, `the receiver answered ${httpStatusLine(410)} at ${iso(Date.now())}`);
      return DONE;
    }
    const reason =
      outcome.kind === 'retryable' || outcome.kind === 'permanent' ? outcome.reason : NO_RESPONSE;
    return retryOrDead(job, reason, outcome.kind === 'retryable' ? outcome.retryAfterMs : undefined);
  }

  async function disable(endpoint: WebhookEndpointRecord, reason: string): Promise<void> {
    await store.disableWebhookEndpoint(endpoint.tenantId, endpoint.id, endpoint.url, reason, Date.now());
    deps.emitter.invalidate(endpoint.tenantId);
  }

  return {
    kind: ENDPOINT_EVENT_JOB,
    batchSize: 16,
    async run(jobs) {
      // Each settles on its own: one that throws must not send the others again.
      return Promise.all(jobs.map((job) => deliverOne(job).catch(retryAfterError)));
    },
  };
}

function retryOrDead(job: Job, reason: string, retryAfterMs: number | undefined): JobResult {
  const delayMs = endpointRetryDelay(job.attempts, retryAfterMs);
  const error = `endpoint ${(job.payload as EndpointEventPayload).endpointId}: ${reason}`;
  return delayMs === null ? { kind: 'dead', error } : { kind: 'retry', error, delayMs };
}
