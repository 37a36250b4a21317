import type { Template } from 'liquidjs';
import type { TemplateFields, WorkflowRecord } from '../shared/model.ts';
import { compileCondition } from './condition.ts';
import { htmlEngine, LIMITS, MESSAGE_BUDGET_MS, textEngine } from './engine.ts';
import { interpolate, type Part, plainInterpolation } from './interpolation.ts';
import { MJML_FIELD } from './mjml.ts';

/** Fields rendered as HTML: every interpolated value is HTML-escaped, so event data cannot inject markup. */
const HTML_FIELDS = new Set(['html']);

/** Per field: its parsed template, whether it is HTML, and its parts if it is plain interpolation. */
export type CompiledFields = [field: string, template: Template[], html: boolean, plain: Part[] | null][];

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

/** A render whose output is larger than a message may be: the message fails with `template_error`. */
export class TemplateTooLarge extends Error {
  override name = 'TemplateTooLarge';
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

/** Parses every field once; throws a LiquidJS error naming the problem when a template is invalid. */
export function compileFields(fields: TemplateFields): CompiledFields {
  return renderedEntries(fields).map(([field, source]) => [
    field,
    engineFor(field).parse(source),
    HTML_FIELDS.has(field),
    plainInterpolation(source),
  ]);
}

/** The fields rendered per message: an MJML source is not one (its compiled `html` is). */
function renderedEntries(fields: TemplateFields): [string, string][] {
  return Object.entries(fields).filter(([field]) => field !== MJML_FIELD);
}

function firstLine(error: unknown): string {
  return (error as Error).message.split('\n')[0] ?? 'invalid template';
}

/**
 * Like compileFields, but answers the error (naming the field) instead of throwing it, for any
 * stored value: a step saved by an older version may have no template object at all, and a throw
 * here failed the whole delivery batch, retried until dead, instead of the step's message.
 */
export function compileStep(fields: TemplateFields): CompiledStep {
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields))
    return new TemplateCompileError('template: not an object of fields');
  try {
    return compileFields(fields);
  } catch (error) {
    const field = templateErrors(fields)[0]?.field;
    return new TemplateCompileError(field ? `${field}: ${firstLine(error)}` : firstLine(error));
  }
}

/**
 * Checks templates for syntax errors and for what templates may not do (load files); answers one
 * message per broken field.
 *
 * @example
 * templateErrors({ body: '{{ data.x ' }); // [{ field: 'body', message: '...' }]
 */
export function templateErrors(fields: TemplateFields): { field: string; message: string }[] {
  const errors: { field: string; message: string }[] = [];
  for (const [field, source] of renderedEntries(fields)) {
    try {
      engineFor(field).parse(source);
    } catch (error) {
      errors.push({ field, message: firstLine(error) });
    }
  }
  return errors;
}

const RENDER_LIMIT_EXCEEDED = /render limit exceeded/;

/**
 * Renders one message's fields within `budgetMs` for all of them together. Plain `{{ a.b }}`
 * fields take the fast path and read no clock; every field LiquidJS renders gets what is left of
 * the budget as its render limit. Throws TemplateTimeout past the budget, a LiquidJS error
 * otherwise.
 */
export function renderFields(
  compiled: CompiledFields,
  scope: RenderScope,
  clock?: RenderClock,
  budgetMs: number = MESSAGE_BUDGET_MS,
): Record<string, string> {
  const out: Record<string, string> = {};
  let started = -1;
  let size = 0;
  try {
    for (const [field, template, html, plain] of compiled) {
      const fast = plain && interpolate(plain, scope, html, LIMITS.memoryLimit);
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
        value = (html ? htmlEngine : textEngine).renderSync(template, scope as unknown as object, {
          renderLimit: left,
        }) as string;
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
  steps: CompiledStep[];
  conditions: CompiledCondition[] | null;
  /** The digest's `key` as the one field `key`; null when the workflow has no digest or no key. */
  digestKey: CompiledStep | null;
  /**
   * Whether any template or condition may read `links` (the word appears in one): the others
   * render without the per-recipient links object.
   */
  usesLinks: boolean;
}

const MENTIONS_LINKS = /\blinks\b/;

function compileConditionOf(expression: string | undefined): CompiledCondition {
  if (expression === undefined) return null;
  try {
    return compileCondition(expression);
  } catch (error) {
    return new TemplateCompileError(firstLine(error));
  }
}

/** Compiled workflows, keyed by tenant, key and version, so each version is parsed once per process. */
export class TemplateCache {
  private readonly cache = new Map<string, CompiledWorkflow>();

  /** A workflow version's compiled steps and conditions, from one cache lookup. */
  compiled(workflow: WorkflowRecord): CompiledWorkflow {
    const key = `${workflow.tenantId}\u0000${workflow.key}\u0000${workflow.version}`;
    let compiled = this.cache.get(key);
    if (!compiled) {
      const { channels, digest } = workflow.definition;
      compiled = {
        digestKey: digest?.key === undefined ? null : compileStep({ key: digest.key }),
        steps: channels.map((step) => compileStep(step.template)),
        conditions: channels.some((step) => step.if !== undefined)
          ? channels.map((step) => compileConditionOf(step.if))
          : null,
        usesLinks: MENTIONS_LINKS.test(
          JSON.stringify([channels.map((step) => [step.template, step.if]), digest?.key]),
        ),
      };
      if (this.cache.size > 5_000) this.cache.clear();
      this.cache.set(key, compiled);
    }
    return compiled;
  }

  /** One compiled field set per workflow channel step, in order. */
  steps(workflow: WorkflowRecord): CompiledStep[] {
    return this.compiled(workflow).steps;
  }

  /** One compiled condition per step, in order; null when no step has one (nothing to evaluate). */
  conditions(workflow: WorkflowRecord): CompiledCondition[] | null {
    return this.compiled(workflow).conditions;
  }
}
