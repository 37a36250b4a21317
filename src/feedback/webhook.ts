import { ApiError } from '../api/errors.ts';
import { findJsonProblem } from '../ingest/json-limits.ts';
import { notifyLanes } from '../pipeline/deps.ts';
import { fallbackAfterSettled } from '../pipeline/fallback-timers.ts';
import type { JobSignal } from '../queue/signal.ts';
import { unseal } from '../security/secrets.ts';
import type { IntegrationRecord, MessageRecord } from '../shared/model.ts';
import { unstorableText } from '../shared/storable-text.ts';
import type { JobSpec, Store } from '../store/port.ts';
import type { DeliveryTally } from '../telemetry/delivery-tally.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { WebhookEmitter } from '../webhooks/emit.ts';
import { type Applied, applyFeedback } from './apply.ts';
import { type FeedbackEvent, type MessageChange, oncePerReport } from './events.ts';
import { sendgridEvents } from './sendgrid-events.ts';
import {
  parseSendGridKey,
  SENDGRID_SIGNATURE_HEADER,
  SENDGRID_TIMESTAMP_HEADER,
  sendGridTimestampFresh,
  verifySendGridSignature,
} from './sendgrid-signature.ts';
import { sesEvents } from './ses-events.ts';
import { type SnsClient, SnsFetchRefused } from './sns-certificates.ts';
import { parseSnsMessage, verifySnsSignature } from './sns-signature.ts';
import { twilioEvents } from './twilio-events.ts';
import { verifyTwilioSignature } from './twilio-signature.ts';

/** The providers whose callbacks Tidings reads, each with its own signature scheme. */
export const WEBHOOK_PROVIDERS = new Set(['twilio', 'ses', 'sendgrid']);

export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';

/** A callback as it arrived: the URL the provider called (public), its headers and the exact bytes. */
export interface WebhookRequest {
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The client's address: what one address may make this server fetch is bounded. */
  requester?: string;
}

export interface WebhookAnswer {
  status: number;
  contentType: string;
  body: string;
}

/**
 * The most a callback may hold, from what each provider documents it sends, with room to spare:
 * - Twilio posts forms (twilio.com/docs/messaging/guides/webhook-request): a status callback is a
 *   few hundred bytes; an incoming text a few dozen parameters (MediaUrl0–9 and their types,
 *   location, WhatsApp fields…) around a body of at most 1,600 characters — 4,096 on WhatsApp, at
 *   most 48 KB percent-encoded. Twilio "will occasionally add new parameters without advance
 *   notice", hence 256 parameters; a form past either cap is refused, never cut short (its
 *   signature covers every parameter).
 * - SendGrid posts JSON batches "every 30 seconds or when the batch size reaches 768 kilobytes"
 *   (docs.sendgrid.com, "Getting started with the Event Webhook").
 * - SNS delivers at most 256 KiB messages to HTTPS endpoints (docs.aws.amazon.com/sns/latest/dg/
 *   large-message-payloads), inside a JSON envelope that escapes them.
 * Nothing is parsed before these hold: 400,000 form parameters took the event loop for 0.8 s.
 */
export const WEBHOOK_LIMITS = Object.freeze({
  /** A form body (Twilio), in bytes. */
  formBytes: 64 * 1024,
  /** Parameters in a form body. */
  formParameters: 256,
  /** Any other body (SendGrid's JSON batches, SNS messages), in bytes. */
  bodyBytes: 1024 * 1024,
});

/** A 413 that says which limit the callback went over. */
export function callbackTooLarge(what: string, limit: string): ApiError {
  return new ApiError('payload_too_large', `${what} may be at most ${limit}: no provider sends more`);
}

/**
 * A Twilio callback's parameters, read only once the form is within WEBHOOK_LIMITS — whatever its
 * Content-Type says, since the form is read from the bytes as they are signed.
 */
function twilioForm(body: Buffer): URLSearchParams {
  if (body.length > WEBHOOK_LIMITS.formBytes)
    throw callbackTooLarge('a Twilio callback', `${WEBHOOK_LIMITS.formBytes / 1024} KB`);
  // Counts separators without splitting: at most `formParameters` + 1 searches, however long the body.
  let parameters = 1;
  for (let at = body.indexOf(0x26); at !== -1; at = body.indexOf(0x26, at + 1)) {
    if (++parameters > WEBHOOK_LIMITS.formParameters)
      throw callbackTooLarge('a Twilio callback', `${WEBHOOK_LIMITS.formParameters} parameters`);
  }
  return new URLSearchParams(body.toString('utf8'));
}

/** Twilio reads the answer to an incoming message as TwiML: an empty response sends no reply (Twilio itself answers STOP). */
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

function header(request: WebhookRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Whether a callback presents a provider's credential (a signature header, or an SNS message
 * type whose message carries its signature): refused, it counts as a failed authentication, as
 * a wrong API key does; one that presents none is a plain 401, as a request without a key is.
 */
export function presentsSignature(headers: WebhookRequest['headers']): boolean {
  return [TWILIO_SIGNATURE_HEADER, SENDGRID_SIGNATURE_HEADER, 'x-amz-sns-message-type'].some(
    (name) => headers[name] !== undefined,
  );
}

/** One wording whatever the id's integrations are, so the answer tells nothing about them. */
const EXPECTED_SIGNATURE =
  'expected X-Twilio-Signature (twilio), X-Twilio-Email-Event-Webhook-Signature (sendgrid) or an SNS message (ses)';

function unsigned(integrationId: string, why: string): ApiError {
  return new ApiError('unauthorized', `this callback for integration ${integrationId} is not signed: ${why}`);
}

/**
 * `POST /v1/providers/{integrationId}/webhook`: finds the integrations with that id (the URL names
 * no tenant, so several tenants may have one), checks the callback's signature with each one's
 * scheme and credentials, and applies its events for every tenant whose integration it verifies
 * against. Nothing is read from the body before its signature holds; an unsigned or badly signed
 * callback is refused (401) and changes nothing.
 */
export class ProviderWebhooks {
  /** When a refused certificate fetch was last logged, and how many were refused since. */
  private refusalsLoggedAt = Number.NEGATIVE_INFINITY;
  private refusalsUnlogged = 0;

  constructor(
    private readonly store: Store,
    /** Opens sealed credentials (Keys.credentialKeyring). */
    private readonly credentialKeys: readonly Buffer[],
    private readonly sns: SnsClient,
    private readonly logger: Logger,
    /** Outbound status webhooks and the job signal, when the process has them. */
    private readonly followUps: { emitter: WebhookEmitter; signal: JobSignal } | null = null,
    /** Counts the status changes callbacks make, for /metrics. */
    private readonly tally: DeliveryTally | null = null,
  ) {}

  /**
   * What a status change from a callback sets off, as the send's own changes do: the tenant's
   * webhook endpoints hear of it (message.delivered, message.bounced…), and a bounce or late
   * failure makes the next fallback step due at once. Queued right after the change (like the
   * API's own status writes): a crash in between loses the event, never the change.
   */
  private readonly afterChange = async (message: MessageRecord, change: MessageChange, now: number) => {
    if (change.status !== null) this.tally?.message(message.channel, change.status);
    if (!this.followUps || change.status === null) return;
    const jobs: JobSpec[] = [
      ...(await this.followUps.emitter.forMessage(
        message,
        { status: change.status, reason: change.reason ?? null, error: change.error ?? null },
        now,
      )),
    ];
    if (change.status === 'bounced' || change.status === 'failed') {
      const [workflow, event] = await Promise.all([
        this.store.getWorkflow(message.tenantId, message.workflow),
        this.store.getEvent(message.tenantId, message.eventId),
      ]);
      const fallback = fallbackAfterSettled(
        workflow,
        message,
        change.status,
        event?.priority ?? 'normal',
        now,
      );
      if (fallback) jobs.push(fallback);
    }
    if (jobs.length === 0) return;
    await this.store.enqueueJobs(jobs);
    notifyLanes(this.followUps.signal, jobs);
  };

  async handle(integrationId: string, request: WebhookRequest, now = Date.now()): Promise<WebhookAnswer> {
    const all = (await this.store.integrationsWithId(integrationId)).filter((i) =>
      WEBHOOK_PROVIDERS.has(i.provider),
    );
    const of = (provider: string) => all.filter((i) => i.provider === provider);
    if (header(request, TWILIO_SIGNATURE_HEADER) !== undefined && of('twilio').length > 0)
      return this.twilio(integrationId, of('twilio'), request, now);
    if (header(request, SENDGRID_SIGNATURE_HEADER) !== undefined && of('sendgrid').length > 0)
      return this.sendgrid(integrationId, of('sendgrid'), request, now);
    // An SNS message goes as far for any id as for an SES integration's (its certificate fetched
    // and its signature checked), so neither a 503 while certificates cannot be fetched nor the
    // 401 after tells anyone whether the id is one.
    if (header(request, 'x-amz-sns-message-type') !== undefined)
      return this.ses(integrationId, of('ses'), request, now);
    // The same 401 as a callback without a signature: the route is public, so a 404 here would
    // tell anyone which integration ids exist (in any tenant).
    throw unsigned(integrationId, EXPECTED_SIGNATURE);
  }

  async close(): Promise<void> {
    await this.sns.close();
  }

  private credentials(integration: IntegrationRecord): Record<string, unknown> {
    if (!integration.sealedCredentials) return {};
    try {
      return unseal<Record<string, unknown>>(this.credentialKeys, integration.sealedCredentials);
    } catch (error) {
      this.logger.warn(
        { err: error, integration: integration.id },
        'integration credentials cannot be opened',
      );
      return {};
    }
  }

  private async applyFor(
    tenants: IntegrationRecord[],
    events: FeedbackEvent[],
    now: number,
  ): Promise<Applied> {
    const total: Applied = { messages: 0, addresses: 0, unmatched: 0 };
    for (const integration of tenants) {
      const applied = await applyFeedback(this.store, integration.tenantId, events, now, this.afterChange);
      total.messages += applied.messages;
      total.addresses += applied.addresses;
      total.unmatched += applied.unmatched;
    }
    return total;
  }

  private async twilio(id: string, candidates: IntegrationRecord[], request: WebhookRequest, now: number) {
    const form = twilioForm(request.body);
    const params = [...form.entries()];
    const signature = header(request, TWILIO_SIGNATURE_HEADER);
    const verified = candidates.filter((integration) => {
      const token = this.credentials(integration).authToken;
      return typeof token === 'string' && verifyTwilioSignature(token, request.url, params, signature);
    });
    if (verified.length === 0) throw unsigned(id, 'X-Twilio-Signature does not match the auth token and URL');
    refuseUnstorable(params.flatMap(([name, value]) => [[name, name] as const, [name, value] as const]));
    await this.applyFor(verified, twilioEvents(form), now);
    return { status: 200, contentType: 'text/xml', body: EMPTY_TWIML };
  }

  private async sendgrid(id: string, candidates: IntegrationRecord[], request: WebhookRequest, now: number) {
    const signature = header(request, SENDGRID_SIGNATURE_HEADER);
    const timestamp = header(request, SENDGRID_TIMESTAMP_HEADER);
    // A signed request from another time (a captured one posted again) is refused as a bad
    // signature is: it changes nothing, and counts as a failed authentication.
    if (!sendGridTimestampFresh(timestamp, now))
      throw unsigned(
        id,
        'X-Twilio-Email-Event-Webhook-Timestamp must be the Unix time of the request, at most 24 hours old and 5 minutes ahead',
      );
    const verified = candidates.filter((integration) => {
      const key = this.credentials(integration).webhookVerificationKey;
      if (typeof key !== 'string') return false;
      try {
        return verifySendGridSignature(parseSendGridKey(key), timestamp, request.body, signature);
      } catch {
        return false;
      }
    });
    if (verified.length === 0)
      throw unsigned(
        id,
        'the ECDSA signature does not verify with credentials.webhookVerificationKey (set it to the key SendGrid shows)',
      );
    const text = request.body.toString('utf8');
    refuseUnstorableJson(text);
    const events = sendgridEvents(text);
    if (events === null)
      throw new ApiError('validation_failed', 'the body must be a JSON array of SendGrid events', [
        { path: 'body', message: 'must be a JSON array' },
      ]);
    const applied = await this.applyFor(verified, events, now);
    return {
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ received: events.length, ...applied }),
    };
  }

  private async ses(id: string, integrations: IntegrationRecord[], request: WebhookRequest, now: number) {
    const message = parseSnsMessage(request.body.toString('utf8'));
    if (!message) throw unsigned(id, 'the body is not an SNS message');
    if (!this.sns.isCertificateUrl(message.SigningCertURL))
      throw unsigned(id, 'SigningCertURL is not an https URL on an sns.<region>.amazonaws.com host');
    let certificate: Awaited<ReturnType<SnsClient['certificate']>>;
    try {
      certificate = await this.sns.certificate(message.SigningCertURL, now, request.requester);
    } catch (error) {
      // Always a 503: SNS retries a 5xx (and network errors) only, and takes any other answer as
      // delivered — a 429 would drop the report for good, and behind a reverse proxy every
      // caller, SNS included, has the proxy's address.
      if (error instanceof SnsFetchRefused) {
        // Anyone can cause these: logged once a minute, with how many were not.
        if (now - this.refusalsLoggedAt >= 60_000) {
          this.logger.warn(
            { integration: id, refusedSinceLastLine: this.refusalsUnlogged },
            `SNS signing certificate not fetched: ${error.message}`,
          );
          this.refusalsLoggedAt = now;
          this.refusalsUnlogged = 0;
        } else this.refusalsUnlogged++;
        throw new ApiError('unavailable', `${error.message}; retry later`, [], {
          'retry-after': error.by === 'requester' ? '60' : '10',
        });
      }
      this.logger.warn({ err: error, integration: id }, 'SNS signing certificate could not be fetched');
      throw new ApiError('unavailable', 'the SNS signing certificate could not be fetched; retry later', [], {
        'retry-after': '10',
      });
    }
    if (!verifySnsSignature(message, certificate, now))
      throw unsigned(id, 'the SNS signature does not verify with its signing certificate');
    // Any AWS account's topic is signed alike: an integration bound to its topic takes no other.
    const candidates = integrations.filter((integration) => {
      const topicArn = (integration.config as { topicArn?: unknown }).topicArn;
      return typeof topicArn !== 'string' || topicArn === message.TopicArn;
    });
    if (candidates.length === 0) throw unsigned(id, "TopicArn is not the integration's config.topicArn");
    switch (message.Type) {
      case 'SubscriptionConfirmation':
        try {
          await this.sns.confirm(message.SubscribeURL!);
        } catch (error) {
          this.logger.warn({ err: error, integration: id }, 'SNS subscription could not be confirmed');
          throw new ApiError('unavailable', 'the SNS subscription could not be confirmed; retry later');
        }
        this.logger.info({ integration: id, topic: message.TopicArn }, 'SNS subscription confirmed');
        return { status: 200, contentType: 'application/json', body: JSON.stringify({ confirmed: true }) };
      case 'UnsubscribeConfirmation':
        return { status: 200, contentType: 'application/json', body: JSON.stringify({ received: 0 }) };
      case 'Notification': {
        // One notification's reports, keyed by its MessageId (the same on every SNS retry of it).
        const events = oncePerReport(sesEvents(message.Message), 'sns', (_, i) =>
          message.MessageId ? `${message.MessageId}:${i}` : null,
        );
        const applied = await this.applyFor(candidates, events, now);
        return {
          status: 200,
          contentType: 'application/json',
          body: JSON.stringify({ received: events.length, ...applied }),
        };
      }
    }
  }
}

/**
 * A signed callback is still input: a value no store can keep (a NUL, which PostgreSQL refuses in
 * any text parameter, or an unpaired surrogate) is a 400 naming where it is, before any of it is
 * looked up or written. No provider sends one; a tenant signing callbacks with its own integration's
 * secret can.
 */
function refuseUnstorable(values: Iterable<readonly [path: string, text: string]>): void {
  for (const [path, text] of values) {
    const problem = unstorableText(text);
    if (problem !== null)
      throw new ApiError('validation_failed', `body ${path} ${problem}`, [{ path, message: problem }]);
  }
}

/** The same for a JSON body, through the ingest's own check (text that is not JSON is answered later). */
function refuseUnstorableJson(text: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return;
  }
  const problem = findJsonProblem(parsed);
  if (problem !== null)
    throw new ApiError('validation_failed', `body ${problem.path} ${problem.message}`, [problem]);
}
