import type { IntlMessageFormat } from 'intl-messageformat';
import { Context, type Liquid, type Template } from 'liquidjs';
import type {
  StepVariant,
  TemplateFields,
  WorkflowChannelStep,
  WorkflowRecord,
  WorkflowVersionRecord,
} from '../shared/model.ts';
import { unstorableText } from '../shared/storable-text.ts';
import { compileCondition } from './condition.ts';
import { digestKeyEngine, htmlEngine, LIMITS, MESSAGE_BUDGET_MS, textEngine } from './engine.ts';
import { interpolate, type Part, plainInterpolation } from './interpolation.ts';
import { LOCALE_REGISTER, type RenderLocale, warmIntl } from './intl-filters.ts';
import { DATA_FIELD, jsonDataSource } from './json-data.ts';
import { byCanonicalTag, canonicalTag, DEFAULT_LOCALE, localeChain, localizedFields } from './locale.ts';
import { markupProblem } from './markup-bound.ts';
import { canonicalCatalogue, MessageBook } from './messages.ts';
import { MJML_FIELD } from './mjml.ts';

/** Fields rendered as HTML: every interpolated value is HTML-escaped, so event data cannot inject markup. */
const HTML_FIELDS = new Set(['html']);

/**
 * Per field: its parsed template, whether it is HTML, its parts if it is plain interpolation, and
 * the engine that parsed it (and renders it).
 */
export type CompiledFields = [
  field: string,
  template: Template[],
  html: boolean,
  plain: Part[] | null,
  engine: Liquid,
][];

/** A step's fields, compiled; or why they cannot be (a template stored before a rule refused it). */
export type CompiledStep = CompiledFields | TemplateCompileError;

export class TemplateCompileError extends Error {
  override name = 'TemplateCompileError';
}

/** A render that ran past its time budget: the message fails with `template_timeout`. */
export class TemplateTimeout extends Error {
  override name = 'TemplateTimeout';
  constructor(budgetMs: number) {
    super(`template render ran past its ${budgetMs} ms budget`);
  }
}

/**
 * Runs a render with `budgetMs`. One that ran past it may have lost the time to a pause (garbage
 * collection, a busy machine), not to its template: it gets one more whole message budget before
 * its TemplateTimeout stands, so a loaded worker does not fail an MFA code whose template takes
 * microseconds. A template that is really slow fails the second time too.
 */
export function withOneMoreBudget<T>(budgetMs: number, render: (budgetMs: number) => T): T {
  try {
    return render(budgetMs);
  } catch (error) {
    if (!(error instanceof TemplateTimeout)) throw error;
    return render(MESSAGE_BUDGET_MS);
  }
}

/** A render whose output is larger than a message may be: the message fails with `template_error`. */
export class TemplateTooLarge extends Error {
  override name = 'TemplateTooLarge';
}

/** A render whose output is no storable text (a NUL, a lone surrogate): the message fails with template_error. */
export class TemplateOutputError extends Error {
  override name = 'TemplateOutputError';
}

/**
 * Most characters one rendered field, and one message's fields together, may hold. Output is not
 * charged to LiquidJS's memory limit (nor to the plain fast path): a loop printing a large value
 * rendered 450 MB in 30 ms, then cost seconds to serialise and store. The length of a V8 string
 * is known without flattening it, so the check is free.
 */
export const MAX_FIELD_CHARS = 1_000_000;
export const MAX_MESSAGE_CHARS = 2_000_000;

function checkSize(field: string, value: string, total: number): number {
  if (value.length > MAX_FIELD_CHARS)
    throw new TemplateTooLarge(`${field} rendered to more than ${MAX_FIELD_CHARS} characters`);
  // Input holds neither (ingest refuses both), but a filter can make them (`"%00" | url_decode`),
  // and PostgreSQL would refuse the message: it fails with template_error instead of failing its
  // whole delivery's write on every retry.
  const unstorable = unstorableText(value);
  if (unstorable !== null) throw new TemplateOutputError(`${field} rendered text that ${unstorable}`);
  const sum = total + value.length;
  if (sum > MAX_MESSAGE_CHARS)
    throw new TemplateTooLarge(`the message rendered to more than ${MAX_MESSAGE_CHARS} characters`);
  return sum;
}

export interface RenderScope {
  data: Record<string, unknown>;
  subscriber: Record<string, unknown>;
  actor: unknown;
  /** `links.unsubscribe` and `links.preferences` (src/pipeline/links.ts), signed when read. */
  links?: object;
  /** At a digest's close: how many events it gathered. */
  count?: number;
  /** At a digest's close: each event's data, oldest first. */
  events?: Record<string, unknown>[];
}

/** Where a caller learns how long LiquidJS ran (plain interpolation is not timed: it cannot loop). */
export interface RenderClock {
  liquidMs: number;
}

function engineFor(field: string) {
  return HTML_FIELDS.has(field) ? htmlEngine : textEngine;
}

/**
 * Parses every field once; throws a LiquidJS error naming the problem when a template is invalid.
 * A field over the markup bound (one stored before the bound read markup as LiquidJS does) throws
 * unparsed: its parse would hold the event loop for seconds.
 */
export function compileFields(fields: TemplateFields, options: FieldOptions = {}): CompiledFields {
  return renderedEntries(fields, options).map(([field, source]) => {
    const engine = engineFor(field);
    const tooMuch = markupProblem(source, engine.options);
    if (tooMuch !== null) throw new Error(tooMuch);
    return [field, engine.parse(source), HTML_FIELDS.has(field), plainInterpolation(source), engine];
  });
}

/**
 * A workflow's `digest.key` as the one field `key`, rendered by the digest key's engine: an array
 * or object prints as canonical JSON there, so different values never share a digest. A key that
 * cannot be used (one stored before a rule refused it) is a TemplateCompileError.
 */
export function compileDigestKey(source: string): CompiledStep {
  try {
    return [['key', digestKeyEngine.parse(source), false, plainInterpolation(source), digestKeyEngine]];
  } catch (error) {
    return new TemplateCompileError(`key: ${firstLine(error)}`);
  }
}

/** How a step's channel reads its fields. */
export interface FieldOptions {
  /** Push and web push: a `data` written as a JSON object renders value by value (json-data.ts). */
  jsonData?: boolean;
}

/** A step's FieldOptions, by its channel. */
export function fieldOptionsOf(step: Pick<WorkflowChannelStep, 'channel'>): FieldOptions {
  return { jsonData: step.channel === 'push' || step.channel === 'webpush' };
}

/** What one field renders from; throws JsonDataError for a `data` object it cannot take. */
function renderedSource(field: string, source: string, options: FieldOptions): string {
  if (!options.jsonData || field !== DATA_FIELD || typeof source !== 'string') return source;
  return jsonDataSource(source) ?? source;
}

/** The fields rendered per message, as rendered: an MJML source is not one (its compiled `html` is). */
function renderedEntries(fields: TemplateFields, options: FieldOptions): [string, string][] {
  return Object.entries(fields)
    .filter(([field]) => field !== MJML_FIELD)
    .map(([field, source]) => [field, renderedSource(field, source, options)]);
}

function firstLine(error: unknown): string {
  const line = (error as Error).message.split('\n')[0] ?? 'invalid template';
  // The engine's stack ran out (LiquidJS passes V8's words on, with the position): say what in
  // the template did it.
  return line.replace(/^Maximum call stack size exceeded/, 'nests too deeply to parse (tags or parentheses)');
}

/**
 * Like compileFields, but answers the error (naming the field) instead of throwing it, for any
 * stored value: a step saved by an older version may have no template object at all, and a throw
 * here failed the whole delivery batch, retried until dead, instead of the step's message.
 */
export function compileStep(fields: TemplateFields, options: FieldOptions = {}): CompiledStep {
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields))
    return new TemplateCompileError('template: not an object of fields');
  try {
    return compileFields(fields, options);
  } catch (error) {
    const field = templateErrors(fields, options)[0]?.field;
    return new TemplateCompileError(field ? `${field}: ${firstLine(error)}` : firstLine(error));
  }
}

/**
 * Checks templates for syntax errors, for what templates may not do (load files) and for more
 * markup than a field may hold (markup-bound.ts, checked before parsing); answers one message per
 * broken field.
 *
 * @example
 * templateErrors({ body: '{{ data.x ' }); // [{ field: 'body', message: '...' }]
 */
export function templateErrors(
  fields: TemplateFields,
  options: FieldOptions = {},
): { field: string; message: string }[] {
  const errors: { field: string; message: string }[] = [];
  for (const [field, given] of Object.entries(fields)) {
    if (field === MJML_FIELD) continue;
    let source: string;
    try {
      source = renderedSource(field, given, options);
    } catch (error) {
      errors.push({ field, message: (error as Error).message });
      continue;
    }
    const engine = engineFor(field);
    const tooMuch = markupProblem(source, engine.options);
    if (tooMuch !== null) {
      errors.push({ field, message: tooMuch });
      continue;
    }
    try {
      engine.parse(source);
    } catch (error) {
      errors.push({ field, message: firstLine(error) });
    }
  }
  return errors;
}

const RENDER_LIMIT_EXCEEDED = /render limit exceeded/;

/** A render's context: the scope, what is left of the budget, and the locale its filters format in. */
function renderContext(engine: Liquid, scope: RenderScope, left: number, locale: RenderLocale | undefined) {
  const context = new Context(scope, engine.options, { sync: true, renderLimit: left }, { liquid: engine });
  if (locale) context.setRegister(LOCALE_REGISTER, locale);
  return context;
}

/**
 * Renders one message's fields within `budgetMs` for all of them together. Plain `{{ a.b }}`
 * fields take the fast path and read no clock; every field LiquidJS renders gets what is left of
 * the budget as its render limit. Throws TemplateTimeout past the budget (after one more, see
 * withOneMoreBudget), a LiquidJS error otherwise.
 */
export function renderFields(
  compiled: CompiledFields,
  scope: RenderScope,
  clock?: RenderClock,
  budgetMs: number = MESSAGE_BUDGET_MS,
  locale?: RenderLocale,
): Record<string, string> {
  return withOneMoreBudget(budgetMs, (budget) => renderFieldsOnce(compiled, scope, clock, budget, locale));
}

function renderFieldsOnce(
  compiled: CompiledFields,
  scope: RenderScope,
  clock: RenderClock | undefined,
  budgetMs: number,
  locale: RenderLocale | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  let started = -1;
  let size = 0;
  try {
    for (const [field, template, html, plain, engine] of compiled) {
      const fast =
        plain &&
        interpolate(plain, scope, html, LIMITS.memoryLimit, locale?.messages ?? null, locale?.timeZone);
      if (fast !== null && fast !== undefined) {
        size = checkSize(field, fast, size);
        out[field] = fast;
        continue;
      }
      if (started < 0) started = performance.now();
      const left = budgetMs - (performance.now() - started);
      if (left <= 0) throw new TemplateTimeout(budgetMs);
      let value: string;
      try {
        value = engine.renderSync(template, renderContext(engine, scope, left, locale)) as string;
      } catch (error) {
        if (RENDER_LIMIT_EXCEEDED.test((error as Error).message)) throw new TemplateTimeout(budgetMs);
        throw error;
      }
      // The limit is checked between nodes and filter calls: work inside one call can finish late,
      // and that counts as a timeout too (it pauses the workflow like any other).
      if (performance.now() - started > budgetMs) throw new TemplateTimeout(budgetMs);
      size = checkSize(field, value, size);
      out[field] = value;
    }
  } finally {
    if (clock && started >= 0) clock.liquidMs += performance.now() - started;
  }
  return out;
}

/**
 * A step's `if`, compiled: null when the step has none; a TemplateCompileError when it cannot be
 * used (one stored before a rule refused it), which fails the step's messages.
 */
export type CompiledCondition = Template[] | TemplateCompileError | null;

/** A workflow version's steps, compiled; `conditions` is null when no step has an `if`. */
export interface CompiledWorkflow {
  /** Per step, per arm (its one template, or each of its `variants`), compiled. */
  steps: CompiledStep[][];
  conditions: CompiledCondition[] | null;
  /** The digest's `key` as the one field `key`; null when the workflow has no digest or no key. */
  digestKey: CompiledStep | null;
  /** Its locales and messages; null when it has neither (every recipient renders `steps`). */
  localization: Localization | null;
  /** Each requested locale's steps, decided once (see localized()). */
  resolved: Map<string, LocalizedSteps>;
  /**
   * Whether any template or condition may read `links` (the word appears in one): the others
   * render without the per-recipient links object.
   */
  usesLinks: boolean;
  /**
   * Whether any template or condition may read the subscriber's email or phone: one names them,
   * or reads `subscriber` other than by a plain `.field` (whole, by index, in a loop or a filter).
   * The others render without opening (decrypting) either address.
   */
  readsAddresses: boolean;
}

interface Localization {
  defaultLocale: string;
  /** Per step and arm, its `locales` keyed by canonical tag; null for one without any. */
  stepLocales: (Map<string, TemplateFields> | null)[][];
  catalogue: Map<string, Record<string, string>>;
  /** Messages parsed so far, by locale and key: shared by every recipient of the version. */
  parsed: Map<string, IntlMessageFormat>;
}

/** What one requested locale renders with: its steps, the tag filters format in, its messages. */
export interface LocalizedSteps {
  /** Per step, per arm (see armsOf). */
  steps: CompiledStep[][];
  locale: string;
  messages: MessageBook | null;
}

/** Distinct requested locales decided per workflow version and kept; past it each is decided anew. */
const RESOLVED_PER_VERSION = 200;

const MENTIONS_LINKS = /\blinks\b/;
const MENTIONS_ADDRESSES = /\b(?:email|phone)\b|\bsubscriber\b(?!\.[A-Za-z_])/;
/** A step's channel names no template: "channel":"email" alone reads no address. */
const CHANNEL_NAMES = /"channel":"[a-z_]+"/g;

function compileConditionOf(expression: string | undefined): CompiledCondition {
  if (expression === undefined) return null;
  try {
    return compileCondition(expression);
  } catch (error) {
    return new TemplateCompileError(firstLine(error));
  }
}

/** A step's arms: its one template (and locales), or each of its variants'. */
export function armsOf(step: WorkflowChannelStep): Pick<StepVariant, 'template' | 'locales'>[] {
  const arms = step.variants ?? [{ template: step.template as TemplateFields, locales: step.locales }];
  const { replyTo } = step;
  if (replyTo === undefined) return arms;
  // A step's replyTo is a field of each of its templates that sets none (locales overlay them).
  return arms.map((arm) =>
    typeof arm.template === 'object' && arm.template !== null && arm.template.replyTo === undefined
      ? { ...arm, template: { ...arm.template, replyTo } }
      : arm,
  );
}

function localizationOf(definition: WorkflowRecord['definition']): Localization | null {
  const { channels, messages } = definition;
  const hasLocales = channels.some((step) => armsOf(step).some((arm) => arm.locales !== undefined));
  if (!hasLocales && messages === undefined) return null;
  return {
    defaultLocale: canonicalTag(definition.defaultLocale ?? DEFAULT_LOCALE) ?? DEFAULT_LOCALE,
    stepLocales: channels.map((step) =>
      armsOf(step).map((arm) => {
        if (!arm.locales) return null;
        const checked = byCanonicalTag(arm.locales);
        return checked.ok ? checked.map : null;
      }),
    ),
    catalogue: canonicalCatalogue(messages),
    parsed: new Map(),
  };
}

/** Compiled workflows, keyed by tenant, key and version, so each version is parsed once per process. */
export class TemplateCache {
  private readonly cache = new Map<string, CompiledWorkflow>();
  /** Saved versions are immutable: each is read from the store once per process. */
  private readonly versions = new Map<string, WorkflowVersionRecord>();

  /** A saved version read before, if it was. */
  version(tenantId: string, key: string, version: number): WorkflowVersionRecord | undefined {
    return this.versions.get(`${tenantId}\u0000${key}\u0000${version}`);
  }

  /** Keeps a saved version read from the store. */
  keepVersion(record: WorkflowVersionRecord): void {
    if (this.versions.size > 5_000) this.versions.clear();
    this.versions.set(`${record.tenantId}\u0000${record.key}\u0000${record.version}`, record);
  }

  /** A workflow version's compiled steps and conditions, from one cache lookup. */
  compiled(workflow: WorkflowRecord): CompiledWorkflow {
    const key = `${workflow.tenantId}\u0000${workflow.key}\u0000${workflow.version}`;
    let compiled = this.cache.get(key);
    if (!compiled) {
      const { channels, digest } = workflow.definition;
      compiled = {
        digestKey: digest?.key === undefined ? null : compileDigestKey(digest.key),
        steps: channels.map((step) =>
          armsOf(step).map((arm) => compileStep(arm.template, fieldOptionsOf(step))),
        ),
        conditions: channels.some((step) => step.if !== undefined)
          ? channels.map((step) => compileConditionOf(step.if))
          : null,
        localization: localizationOf(workflow.definition),
        resolved: new Map(),
        // Anywhere in the definition: templates, variants, locales, messages, conditions, the digest key.
        usesLinks: MENTIONS_LINKS.test(JSON.stringify(workflow.definition)),
        readsAddresses: MENTIONS_ADDRESSES.test(
          JSON.stringify(workflow.definition).replace(CHANNEL_NAMES, ''),
        ),
      };
      if (this.cache.size > 5_000) this.cache.clear();
      this.cache.set(key, compiled);
    }
    return compiled;
  }

  /**
   * The steps a recipient whose locale is `requested` (the event's, else the subscriber's; null
   * for none) gets: decided once per workflow version and requested tag. `compiled` saves the
   * version lookup when the caller holds it (a delivery, once per recipient).
   */
  localized(
    workflow: WorkflowRecord,
    requested: string | null,
    compiled: CompiledWorkflow = this.compiled(workflow),
  ): LocalizedSteps {
    const key = requested ?? '';
    const known = compiled.resolved.get(key);
    if (known) return known;
    const localized = localize(workflow, compiled, requested);
    if (compiled.resolved.size < RESOLVED_PER_VERSION) compiled.resolved.set(key, localized);
    return localized;
  }

  /** One compiled condition per step, in order; null when no step has one (nothing to evaluate). */
  conditions(workflow: WorkflowRecord): CompiledCondition[] | null {
    return this.compiled(workflow).conditions;
  }
}

let renderPathWarm = false;

/**
 * Runs the locale-aware filters and an ICU message once per process, untimed: their first run
 * (code not yet compiled, Intl and parser data not loaded) took longer than a message's render
 * budget on a busy machine, and failed the first localized message of a worker as a timeout.
 */
function warmRenderPath(): void {
  if (renderPathWarm) return;
  renderPathWarm = true;
  const book = new MessageBook(
    new Map([['en', { n: '{n, plural, one {# item} other {# items}}' }]]),
    ['en'],
    new Map(),
  );
  const source =
    '{{ "n" | t: n: 2 }} {{ 1.5 | number }} {{ 2 | currency: "EUR" }} {{ 0 | datetime: "short" }} {{ 0 | relative }}';
  try {
    renderFields(
      compileFields({ warm: source }),
      { data: {}, subscriber: {}, actor: null },
      undefined,
      60_000,
      {
        locale: 'en',
        timeZone: 'UTC',
        now: 0,
        messages: book.prepare(),
      },
    );
  } catch {
    // Only a warm-up: a real render reports its own errors.
  }
}

function localize(
  workflow: WorkflowRecord,
  compiled: CompiledWorkflow,
  requested: string | null,
): LocalizedSteps {
  const localization = compiled.localization;
  const wanted = requested === null ? null : canonicalTag(requested);
  const fallback =
    localization?.defaultLocale ?? canonicalTag(workflow.definition.defaultLocale ?? DEFAULT_LOCALE);
  // Numbers and dates follow the recipient's own locale, even when its copy falls back.
  const locale = wanted ?? fallback ?? DEFAULT_LOCALE;
  warmRenderPath();
  if (!localization) {
    warmIntl([locale]);
    return { steps: compiled.steps, locale, messages: null };
  }
  const chain = localeChain(wanted, localization.defaultLocale);
  warmIntl([locale, ...chain]);
  const steps = compiled.steps.map((arms, i) => {
    const step = workflow.definition.channels[i]!;
    const definitions = armsOf(step);
    return arms.map((base, a) => {
      const locales = localization.stepLocales[i]![a];
      if (!locales || !chain.some((tag) => locales.has(tag))) return base;
      return compileStep(localizedFields(definitions[a]!.template, locales, chain), fieldOptionsOf(step));
    });
  });
  const messages =
    localization.catalogue.size === 0
      ? null
      : new MessageBook(localization.catalogue, chain, localization.parsed).prepare();
  return { steps, locale, messages };
}
