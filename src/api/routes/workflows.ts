import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type, { type Static } from 'typebox';
import { MAX_MAILBOX_LENGTH, parseMailbox } from '../../channels/email/content.ts';
import { literalPushProblems } from '../../channels/push/template-rules.ts';
import { displayNameProblem, Id, SubscriberFields } from '../../ingest/fields.ts';
import type { LinkKeys } from '../../pipeline/links.ts';
import { PreviewTooLarge, previewWorkflow } from '../../pipeline/preview.ts';
import { PRESENCE_AWARE_CHANNELS } from '../../pipeline/skip-if-online.ts';
import { DIGEST_WINDOW_MAX_MS, DIGEST_WINDOW_MIN_MS, digestWindowMs } from '../../policy/digest.ts';
import { RATE_WINDOW_MAX_MS } from '../../policy/rate-limit.ts';
import { forgetPageWorkflows } from '../../preference-page/workflow-summaries.ts';
import type { LayoutRecord, SubscriberRecord, WorkflowDefinition } from '../../shared/model.ts';
import { parseDuration } from '../../shared/time.ts';
import { TimeSlices } from '../../shared/time-slices.ts';
import type { VariantCount } from '../../store/port.ts';
import { conditionError } from '../../templates/condition.ts';
import { byCanonicalTagToSave, canonicalTag, DEFAULT_LOCALE } from '../../templates/locale.ts';
import {
  canonicalCatalogue,
  catalogueProblems,
  inDefaultLocale,
  literalMessageKeys,
} from '../../templates/messages.ts';
import { compileMjml, MJML_FIELD } from '../../templates/mjml.ts';
import { type FieldOptions, fieldOptionsOf, TemplateCache, templateErrors } from '../../templates/render.ts';
import type { ApiContext } from '../context.ts';
import { CURSOR_MAX_LENGTH, readCursor, sizedAnswer } from '../cursors.ts';
import { ApiError, type ErrorDetail, notFound, unprocessableFields, validationError } from '../errors.ts';
import { MJML_REQUEST_BUDGET_MS, mjmlTurns } from '../mjml-turns.ts';
import {
  IdParams,
  Limit,
  WORKFLOW_CATEGORY_MESSAGE,
  WORKFLOW_CATEGORY_PATTERN,
  WORKFLOW_NAME_MAX_LENGTH,
  WorkflowBody,
} from '../schemas.ts';
import { PAGE_BYTES } from '../sized-pages.ts';
import { flattenTemplateActions, pushFieldsAsText } from '../template-actions.ts';
import { TenantTurns } from '../tenant-turns.ts';
import { workflowVersionView, workflowView } from '../views.ts';
import { onlyPausedChanged } from '../workflow-pause.ts';

type Step = WorkflowBody['channels'][number];
type Fields = Record<string, string>;

/** A step's templates with the path naming each: its one template, or each variant's. */
function armsWithPaths(
  step: Step,
  i: number,
): { at: string; template: Fields; locales?: Record<string, Fields> }[] {
  if (step.variants)
    return step.variants.map((variant, v) => ({
      at: `channels[${i}].variants[${v}]`,
      template: variant.template,
      locales: variant.locales,
    }));
  return [{ at: `channels[${i}]`, template: step.template ?? {}, locales: step.locales }];
}

/** A step has one template or variants (named once each, some weight among them), not both. */
function variantDetails(step: Step, i: number): ErrorDetail[] {
  if (step.variants === undefined)
    return step.template === undefined
      ? [{ path: `channels[${i}].template`, message: 'is required (or variants)' }]
      : [];
  const details: ErrorDetail[] = [];
  if (step.template !== undefined)
    details.push({ path: `channels[${i}].variants`, message: 'a step has a template or variants, not both' });
  if (step.locales !== undefined)
    details.push({
      path: `channels[${i}].locales`,
      message: 'with variants, each variant carries its own locales',
    });
  const names = new Set<string>();
  step.variants.forEach((variant, v) => {
    if (names.has(variant.name))
      details.push({
        path: `channels[${i}].variants[${v}].name`,
        message: `"${variant.name}" is used twice`,
      });
    names.add(variant.name);
  });
  if (step.variants.every((variant) => variant.weight === 0))
    details.push({ path: `channels[${i}].variants`, message: 'at least one variant needs a weight above 0' });
  return details;
}

/**
 * Template and condition syntax is checked when the workflow is saved, not when the first event
 * fails. A body may hold a megabyte of templates: they are parsed a field at a time, giving the
 * event loop back between fields (TimeSlices) so other callers' requests are not held meanwhile.
 */
async function templateDetails(body: WorkflowBody): Promise<ErrorDetail[]> {
  const slices = new TimeSlices();
  const details: ErrorDetail[] = [];
  for (const [i, step] of body.channels.entries()) {
    details.push(...variantDetails(step, i));
    for (const arm of armsWithPaths(step, i)) {
      const options = fieldOptionsOf(step);
      details.push(...(await fieldDetails(arm.template, `${arm.at}.template`, slices, options)));
      details.push(...(await localeDetails(arm.locales, `${arm.at}.locales`, slices, options)));
      if (step.channel === 'push' || step.channel === 'webpush')
        details.push(...pushLiteralDetails(arm, step.channel));
      if (step.channel === 'email') details.push(...templateReplyToDetails(arm));
    }
    if (step.replyTo !== undefined) details.push(...replyToDetails(step, i));
    const condition = step.if === undefined ? null : conditionError(step.if);
    if (condition !== null) details.push({ path: `channels[${i}].if`, message: condition });
    if (step.skipIfOnline && !PRESENCE_AWARE_CHANNELS.has(step.channel))
      details.push({
        path: `channels[${i}].skipIfOnline`,
        message: 'applies to push, webpush, sms and email steps only',
      });
  }
  return details;
}

/** A step's own `replyTo`: for email steps, a template that parses. */
function replyToDetails(step: Step, i: number): ErrorDetail[] {
  const path = `channels[${i}].replyTo`;
  if (step.channel !== 'email') return [{ path, message: 'is for email steps only' }];
  const parse = templateErrors({ replyTo: step.replyTo! }).map((e) => ({ path, message: e.message }));
  return parse.length > 0 ? parse : literalMailboxDetails(step.replyTo!, path);
}

/**
 * A `replyTo` written as plain text (no Liquid in it) is known at PUT: one that is not an address
 * or `Name <address>` would fail every email of the step at send, so it is a 400 now, as `from`
 * is at an integration's PUT. One rendered from data is checked when it is sent.
 */
function literalMailboxDetails(source: string, path: string): ErrorDetail[] {
  if (source.includes('{{') || source.includes('{%') || source.trim() === '') return [];
  if (source.trim().length <= MAX_MAILBOX_LENGTH && parseMailbox(source) !== null) return [];
  return [
    {
      path,
      message: `must be an email address or "Name <address>" (at most ${MAX_MAILBOX_LENGTH} characters)`,
    },
  ];
}

/** An email arm's own `replyTo` template fields (its template's and each locale's), as the step's. */
function templateReplyToDetails(arm: { at: string; template: Fields; locales?: Record<string, Fields> }) {
  const details: ErrorDetail[] = [];
  const check = (fields: Fields, path: string) => {
    if (fields.replyTo !== undefined && templateErrors({ replyTo: fields.replyTo }).length === 0)
      details.push(...literalMailboxDetails(fields.replyTo, `${path}.replyTo`));
  };
  check(arm.template, `${arm.at}.template`);
  for (const [tag, fields] of Object.entries(arm.locales ?? {})) check(fields, `${arm.at}.locales.${tag}`);
  return details;
}

/** A push arm's literal interruptionLevel, badge, data and collapseId, in its template and every locale's. */
function pushLiteralDetails(
  arm: { at: string; template: Fields; locales?: Record<string, Fields> },
  channel: 'push' | 'webpush',
) {
  const details: ErrorDetail[] = [];
  const check = (fields: Fields, path: string) => {
    for (const e of literalPushProblems(fields, channel))
      details.push({ path: `${path}.${e.field}`, message: e.message });
  };
  check(arm.template, `${arm.at}.template`);
  for (const [tag, fields] of Object.entries(arm.locales ?? {})) check(fields, `${arm.at}.locales.${tag}`);
  return details;
}

/** Each field of one template checked on its own, the event loop given back between them when due. */
async function fieldDetails(
  fields: Fields,
  path: string,
  slices: TimeSlices,
  options: FieldOptions,
): Promise<ErrorDetail[]> {
  const details: ErrorDetail[] = [];
  for (const [field, source] of Object.entries(fields)) {
    await slices.yieldIfDue();
    for (const e of templateErrors({ [field]: source }, options))
      details.push({ path: `${path}.${e.field}`, message: e.message });
  }
  return details;
}

/**
 * A step's `locales`: BCP 47 tags within the key rule (which a rollback does not meet in the
 * schema), each spelled once, holding templates that parse.
 */
async function localeDetails(
  locales: Record<string, Fields> | undefined,
  path: string,
  slices: TimeSlices,
  options: FieldOptions,
): Promise<ErrorDetail[]> {
  if (!locales) return [];
  const tags = byCanonicalTagToSave(locales);
  if (!tags.ok) return [{ path: `${path}.${tags.key}`, message: tags.message }];
  const details: ErrorDetail[] = [];
  for (const [tag, fields] of Object.entries(locales))
    details.push(...(await fieldDetails(fields, `${path}.${tag}`, slices, options)));
  return details;
}

/**
 * The `messages` catalogue parses (each message an ICU message, the event loop given back between
 * them), and every key a template names (`"key" | t`) is in the default locale's messages, the
 * last resort of every recipient.
 */
async function messageDetails(body: WorkflowBody): Promise<ErrorDetail[]> {
  const problems: ErrorDetail[] = await catalogueProblems(body.messages);
  if (problems.length > 0) return problems;
  const catalogue = canonicalCatalogue(body.messages);
  const defaultLocale = canonicalTag(body.defaultLocale ?? DEFAULT_LOCALE) ?? DEFAULT_LOCALE;
  const check = (fields: Record<string, string>, path: string) => {
    for (const [field, source] of Object.entries(fields))
      for (const key of literalMessageKeys(source))
        if (!inDefaultLocale(catalogue, defaultLocale, key))
          problems.push({
            path: `${path}.${field}`,
            message: `message "${key}" is not in the messages of the default locale (${defaultLocale}), which every recipient falls back to`,
          });
  };
  body.channels.forEach((step, i) => {
    // The step's replyTo is rendered as part of each of its templates.
    if (step.replyTo !== undefined) check({ replyTo: step.replyTo }, `channels[${i}]`);
    for (const arm of armsWithPaths(step, i)) {
      check(arm.template, `${arm.at}.template`);
      for (const [tag, fields] of Object.entries(arm.locales ?? {}))
        check(fields, `${arm.at}.locales.${tag}`);
    }
  });
  return problems;
}

/** The longest `fallback.after`: a fallback is for a message that should have arrived, not a reminder. */
export const FALLBACK_AFTER_MAX_MS = 30 * 86_400_000;

/**
 * A fallback step falls back from the step before it, so the first step cannot have one; and a
 * delivery has one message per channel, so a fallback's channel must be new to the workflow.
 */
function fallbackDetails(body: WorkflowBody): ErrorDetail[] {
  return body.channels.flatMap((step, i) => {
    if (!step.fallback) return [];
    if (i === 0)
      return [
        { path: 'channels[0].fallback', message: 'the first step has no earlier channel to fall back from' },
      ];
    const details: ErrorDetail[] = [];
    if (body.channels.slice(0, i).some((earlier) => earlier.channel === step.channel))
      details.push({
        path: `channels[${i}].channel`,
        message: `a fallback step needs a channel no earlier step uses (${step.channel} is used before it)`,
      });
    if ((parseDuration(step.fallback.after) ?? Number.POSITIVE_INFINITY) > FALLBACK_AFTER_MAX_MS)
      details.push({ path: `channels[${i}].fallback.after`, message: 'must be at most 30d' });
    return details;
  });
}

/**
 * Compiles email steps' MJML into their `html` (once per workflow version: the stored definition
 * carries both); answers what does not compile. MJML is for email steps only. Once a template is
 * too slow to compile, the rest are not tried (that request has cost the thread enough); compiles
 * queued too deep are a 503.
 */
async function compileMjmlSteps(body: WorkflowBody, compiledAt: Set<string>): Promise<ErrorDetail[]> {
  const details: ErrorDetail[] = [];
  const started = Date.now();
  for (const [i, step] of body.channels.entries()) {
    const templates: [string, Fields][] = [];
    for (const arm of armsWithPaths(step, i)) {
      templates.push([`${arm.at}.template`, arm.template]);
      for (const [tag, fields] of Object.entries(arm.locales ?? {}))
        templates.push([`${arm.at}.locales.${tag}`, fields]);
    }
    for (const [at, fields] of templates) {
      const source = fields[MJML_FIELD];
      if (source === undefined) continue;
      const path = `${at}.${MJML_FIELD}`;
      if (step.channel !== 'email') {
        details.push({ path, message: 'is for email steps only' });
        continue;
      }
      if (Date.now() - started > MJML_REQUEST_BUDGET_MS) {
        details.push({
          path,
          message: `not compiled: this workflow's MJML took more than ${MJML_REQUEST_BUDGET_MS / 1000} s to compile in all`,
        });
        return details;
      }
      const compiled = await compileMjml(source);
      if (compiled.ok) {
        fields.html = compiled.html;
        compiledAt.add(at);
      } else if (compiled.cause === 'busy')
        throw new ApiError('unavailable', compiled.message, [], { 'retry-after': '1' });
      else details.push({ path, message: compiled.message });
      if (!compiled.ok && compiled.cause === 'too_slow') return details;
    }
  }
  return details;
}

/** A rate limit's window is one its counter can keep (RATE_WINDOW_MAX_MS). */
function rateLimitDetails(body: WorkflowBody): ErrorDetail[] {
  return (body.rateLimit ?? []).flatMap((rule, i) =>
    (parseDuration(rule.window) ?? Number.POSITIVE_INFINITY) > RATE_WINDOW_MAX_MS
      ? [{ path: `rateLimit[${i}].window`, message: `must be at most ${RATE_WINDOW_MAX_MS / 86_400_000}d` }]
      : [],
  );
}

/** A digest's window must be one Tidings can keep, and its key a template that parses. */
function digestDetails(body: WorkflowBody): ErrorDetail[] {
  const digest = body.digest;
  if (!digest) return [];
  const details: ErrorDetail[] = [];
  if (digestWindowMs(digest.window) === null)
    details.push({
      path: 'digest.window',
      message: `must be from ${DIGEST_WINDOW_MIN_MS / 1000}s to ${DIGEST_WINDOW_MAX_MS / 86_400_000}d`,
    });
  if (digest.key !== undefined)
    for (const e of templateErrors({ key: digest.key }))
      details.push({ path: 'digest.key', message: e.message });
  return details;
}

/** A step's `layout` is for email steps, and names a layout that exists. */
async function checkLayouts(store: ApiContext['store'], tenantId: string, definition: WorkflowDefinition) {
  const details: ErrorDetail[] = [];
  const exists = new Map<string, boolean>();
  for (const [i, step] of definition.channels.entries()) {
    if (step.layout === undefined) continue;
    const path = `channels[${i}].layout`;
    if (step.channel !== 'email') {
      details.push({ path, message: 'is for email steps only' });
      continue;
    }
    // A layout frames html: on a step with text only it would do nothing.
    const framesSomething = armsWithPaths(step as Step, i).some((arm) =>
      [arm.template, ...Object.values(arm.locales ?? {})].some(
        (fields) => fields.html !== undefined || fields[MJML_FIELD] !== undefined,
      ),
    );
    if (!framesSomething) {
      details.push({ path, message: 'frames html: give this step an html or mjml template' });
      continue;
    }
    let found = exists.get(step.layout);
    if (found === undefined) {
      found = await store.hasLayout(tenantId, step.layout);
      exists.set(step.layout, found);
    }
    if (!found)
      details.push({
        path,
        message: `no layout "${step.layout}": PUT /v1/layouts/${encodeURIComponent(step.layout)} first`,
      });
  }
  if (details.length > 0) throw validationError(details);
}

/**
 * The name's rule (DisplayName) for a definition that did not come through the schema: a version
 * rolled back to, saved before the rule was, is held to it as a PUT of it would be.
 */
function nameDetails(body: WorkflowBody): ErrorDetail[] {
  if (body.name === undefined) return [];
  const problem = displayNameProblem(body.name, WORKFLOW_NAME_MAX_LENGTH);
  return problem ? [{ path: 'name', message: problem }] : [];
}

const WORKFLOW_CATEGORY = new RegExp(WORKFLOW_CATEGORY_PATTERN);

/** The category's rule for a definition that did not come through the schema (a rollback), as nameDetails. */
function categoryDetails(body: WorkflowBody): ErrorDetail[] {
  if (body.category === undefined || WORKFLOW_CATEGORY.test(body.category)) return [];
  return [{ path: 'category', message: WORKFLOW_CATEGORY_MESSAGE }];
}

/** A definition as it is saved, or the 400 that says what is wrong with it. */
async function checkedDefinition(body: WorkflowBody, tenantId: string): Promise<WorkflowDefinition> {
  // What needs no compile first: a body that is a 400 anyway takes no time of the MJML thread.
  const details = [
    ...nameDetails(body),
    ...categoryDetails(body),
    ...(await templateDetails(body)),
    ...(await messageDetails(body)),
    ...fallbackDetails(body),
    ...digestDetails(body),
    ...rateLimitDetails(body),
  ];
  if (details.length > 0) throw validationError(details);
  if (!hasMjml(body)) return body as WorkflowDefinition;
  const compiledAt = new Set<string>();
  const mjml = await mjmlTurns.run(tenantId, () => compileMjmlSteps(body, compiledAt));
  if (mjml.length > 0) throw validationError(mjml);
  // The compiled HTML is a template too: what is wrong with it is said of the MJML it came from.
  const compiled = (await templateDetails(body)).map((detail) => {
    const at = detail.path.endsWith('.html') ? detail.path.slice(0, -'.html'.length) : null;
    if (at === null || !compiledAt.has(at)) return detail;
    return { path: `${at}.${MJML_FIELD}`, message: `in the html it compiles to: ${detail.message}` };
  });
  if (compiled.length > 0) throw validationError(compiled);
  return body as WorkflowDefinition;
}

/** Whether any template of the body holds MJML (most hold none, and take no turn). */
function hasMjml(body: WorkflowBody): boolean {
  return body.channels.some((step, i) =>
    armsWithPaths(step, i).some(
      (arm) =>
        arm.template[MJML_FIELD] !== undefined ||
        Object.values(arm.locales ?? {}).some((fields) => fields[MJML_FIELD] !== undefined),
    ),
  );
}

const RollbackBody = Type.Object(
  { version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) },
  { additionalProperties: false },
);
type RollbackBody = Static<typeof RollbackBody>;

/** A tenant's previews waiting behind the one rendering (src/api/tenant-turns.ts); more answer 429. */
const PREVIEWS_WAITING = 4;

const PreviewBody = Type.Object(
  {
    subscriberId: Type.Optional(Id),
    subscriber: Type.Optional(
      Type.Object({ subscriberId: Type.Optional(Id), ...SubscriberFields }, { additionalProperties: false }),
    ),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    locale: Type.Optional(Type.String({ format: 'bcp47-locale', maxLength: 64 })),
    // As an event's `actor` (src/ingest/schema.ts): templates and step conditions read it.
    actor: Type.Optional(
      Type.String({
        maxLength: 128,
        description: "as the event's actor: what {{ actor }} and step conditions see (none: null)",
      }),
    ),
  },
  { additionalProperties: false },
);
type PreviewBody = Static<typeof PreviewBody>;

/**
 * The recipient of a preview: a stored subscriber, or one given inline, stored nowhere. An unknown
 * id previews as an empty subscriber of that id, as a send to it would render (an event creates
 * the subscriber empty); the preview stores nothing.
 */
async function previewRecipient(
  store: ApiContext['store'],
  tenantId: string,
  body: PreviewBody,
  now: number,
): Promise<SubscriberRecord> {
  if ((body.subscriberId === undefined) === (body.subscriber === undefined))
    throw validationError([{ path: 'subscriberId', message: 'give either subscriberId or subscriber' }]);
  const stored =
    body.subscriberId === undefined ? null : await store.getSubscriber(tenantId, body.subscriberId);
  if (stored) return stored;
  const inline = body.subscriber ?? { subscriberId: body.subscriberId };
  return {
    tenantId,
    id: inline.subscriberId ?? 'preview',
    email: inline.email ?? null,
    phone: inline.phone ?? null,
    locale: inline.locale ?? null,
    timezone: inline.timezone ?? null,
    data: (inline.data ?? {}) as Record<string, unknown>,
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * Per A/B variant: its messages by status, and in all. The current definition's variants come
 * first (with zeros when nothing was sent yet), then names only older versions had.
 */
function variantStats(definition: WorkflowDefinition, counts: VariantCount[]) {
  const byName = new Map<string, { name: string; total: number; statuses: Record<string, number> }>();
  const entry = (name: string) => {
    let found = byName.get(name);
    if (!found) {
      found = { name, total: 0, statuses: {} };
      byName.set(name, found);
    }
    return found;
  };
  for (const step of definition.channels) for (const variant of step.variants ?? []) entry(variant.name);
  for (const { variant, status, count } of counts) {
    const found = entry(variant);
    found.statuses[status] = (found.statuses[status] ?? 0) + count;
    found.total += count;
  }
  return [...byName.values()];
}

/** Versions per page of `GET /v1/workflows/{key}/versions`: each holds a whole definition. */
const VERSIONS_PAGE = 20;
const VERSIONS_CURSOR_TAG = 'v1';
const VersionsQuery = Type.Object(
  {
    cursor: Type.Optional(
      Type.String({ maxLength: CURSOR_MAX_LENGTH, description: 'nextCursor of the previous page' }),
    ),
    limit: Type.Optional(Limit(100, VERSIONS_PAGE)),
  },
  { additionalProperties: false },
);
type VersionsQuery = { cursor?: string; limit?: number };

export async function workflowRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context;
  const params = IdParams('key');

  app.put(
    '/v1/workflows/:key',
    {
      schema: { params, body: WorkflowBody },
      // The schema's answer reaches the handler: a refused PUT that only pauses is still taken.
      attachValidation: true,
      // `actions: [{label, url}]` becomes flat template fields, and a push `badge` number or `data`
      // object its text, before the schema (strings only) sees them.
      preValidation: async (request) => {
        const problems = [...pushFieldsAsText(request.body), ...flattenTemplateActions(request.body)];
        if (problems.length > 0) throw validationError(problems);
      },
    },
    async (request) => {
      const { key } = request.params as { key: string };
      // A key the rules refuse is never looked up: the kill switch below reads the stored workflow by it.
      const refused = request.validationError as (Error & { validationContext?: string }) | undefined;
      if (refused && refused.validationContext !== 'body') throw refused;
      const definition = await checkedPut(request).catch(async (error: unknown) => {
        // The kill switch works on a workflow stored before a rule it breaks (workflow-pause.ts).
        if (!(error instanceof ApiError) || error.errorCode !== 'validation_failed') throw error;
        const kept = await onlyPausedChanged(store, request.tenantId, key, request.body);
        if (kept === null) throw error;
        return kept;
      });
      const saved = await store.putWorkflow(request.tenantId, key, definition, Date.now());
      forgetPageWorkflows(store, request.tenantId);
      return workflowView(saved);
    },
  );

  /** A PUT's definition as it is saved, or the 400 that says what is wrong with it. */
  async function checkedPut(request: FastifyRequest): Promise<WorkflowDefinition> {
    if (request.validationError) throw request.validationError;
    const definition = await checkedDefinition(request.body as WorkflowBody, request.tenantId);
    await checkLayouts(store, request.tenantId, definition);
    return definition;
  }

  // The API's own compiled templates (workers keep theirs): a preview renders as a send would.
  const templates = new TemplateCache();
  const previews = new TenantTurns('previews', PREVIEWS_WAITING);
  // The keys the workers sign message links with (src/cli/worker-role.ts): a preview shows them as sent.
  const previewLinks: LinkKeys = {
    publicUrl: context.config.publicUrl,
    unsubscribeKey: context.keys.unsubscribeSigning,
    preferencesKey: context.keys.preferenceLinkSigning,
    trackingKey: context.keys.trackingSigning,
  };
  app.post('/v1/workflows/:key/preview', { schema: { params, body: PreviewBody } }, (request) =>
    previews.run(request.tenantId, () => preview(request)),
  );
  async function preview(request: FastifyRequest) {
    const { key } = request.params as { key: string };
    const body = request.body as PreviewBody;
    const now = Date.now();
    const workflow = await store.getWorkflow(request.tenantId, key);
    if (!workflow) throw notFound('workflow', key);
    const subscriber = await previewRecipient(store, request.tenantId, body, now);
    const settings = await store.getTenantSettings(request.tenantId);
    // A preview wraps in each layout's current version, read once per layout.
    const layouts = new Map<number, LayoutRecord | null>();
    const current = new Map<string, LayoutRecord | null>();
    for (const [index, step] of workflow.definition.channels.entries()) {
      if (step.layout === undefined || step.channel !== 'email') continue;
      if (!current.has(step.layout))
        current.set(
          step.layout,
          await store.layoutAt(request.tenantId, step.layout, Number.MAX_SAFE_INTEGER),
        );
      layouts.set(index, current.get(step.layout)!);
    }
    try {
      const channels = await previewWorkflow(templates, {
        layouts,
        workflow,
        subscriber,
        data: (body.data ?? {}) as Record<string, unknown>,
        locale: body.locale ?? null,
        actor: body.actor ?? null,
        defaultTimezone: settings.defaultTimezone,
        now,
        links: previewLinks,
      });
      return { workflow: key, version: workflow.version, channels };
    } catch (error) {
      if (!(error instanceof PreviewTooLarge)) throw error;
      throw unprocessableFields([{ path: `channels[${error.step}]`, message: error.message }], 'workflow');
    }
  }

  app.get('/v1/workflows/:key/stats', { schema: { params } }, async (request) => {
    const { key } = request.params as { key: string };
    const workflow = await store.getWorkflow(request.tenantId, key);
    if (!workflow) throw notFound('workflow', key);
    const counts = await store.variantCounts(request.tenantId, key);
    return { workflow: key, variants: variantStats(workflow.definition, counts) };
  });

  app.get(
    '/v1/workflows/:key/versions',
    { schema: { params, querystring: VersionsQuery } },
    async (request) => {
      const { key } = request.params as { key: string };
      const { cursor, limit = VERSIONS_PAGE } = request.query as VersionsQuery;
      // A deleted workflow's versions are kept (its numbers go on if it is saved again), not shown.
      const workflow = await store.getWorkflow(request.tenantId, key);
      if (!workflow) throw notFound('workflow', key);
      const issued = cursor === undefined ? null : readCursor(cursor, VERSIONS_CURSOR_TAG, 1)[0]!;
      if (issued !== null && !/^[1-9][0-9]{0,14}$/.test(issued))
        throw validationError([{ path: 'cursor', message: 'is not a cursor this API issued' }], 'query');
      const before = issued === null ? null : Number(issued);
      // Newest first, a page at a time: every version holds a whole definition (up to a body
      // each), so a page holds about PAGE_BYTES of them at most (SizedPage).
      const page = await store.pageWorkflowVersions(request.tenantId, key, {
        before,
        limit,
        maxBytes: PAGE_BYTES,
      });
      return sizedAnswer(
        page,
        VERSIONS_CURSOR_TAG,
        (v) => String(v.version),
        (v) => workflowVersionView(v, v.version === workflow.version),
      );
    },
  );

  app.post('/v1/workflows/:key/rollback', { schema: { params, body: RollbackBody } }, async (request) => {
    const { key } = request.params as { key: string };
    const { version } = request.body as RollbackBody;
    if (!(await store.getWorkflow(request.tenantId, key))) throw notFound('workflow', key);
    const saved = await store.getWorkflowVersion(request.tenantId, key, version);
    if (!saved) throw notFound('workflow version', `${key} v${version}`);
    // The copy is checked as a PUT of it would be: a rule added since it was saved holds for it too.
    const definition = await checkedDefinition(
      structuredClone(saved.definition) as WorkflowBody,
      request.tenantId,
    );
    await checkLayouts(store, request.tenantId, definition);
    const copy = await store.putWorkflow(request.tenantId, key, definition, Date.now());
    forgetPageWorkflows(store, request.tenantId);
    return workflowView(copy);
  });

  app.get('/v1/workflows/:key', { schema: { params } }, async (request) => {
    const { key } = request.params as { key: string };
    const workflow = await store.getWorkflow(request.tenantId, key);
    if (!workflow) throw notFound('workflow', key);
    return workflowView(workflow);
  });
}
