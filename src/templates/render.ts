import { Liquid, type Template } from 'liquidjs';
import type { TemplateFields, WorkflowRecord } from '../shared/model.ts';
import { interpolate, type Part, plainInterpolation } from './interpolation.ts';

/** Fields rendered as HTML: every interpolated value is HTML-escaped, so event data cannot inject markup. */
const HTML_FIELDS = new Set(['html']);

const limits = { parseLimit: 100_000, renderLimit: 1_000, memoryLimit: 10_000_000 };
// Plain-text fields are not entity-encoded: clients render them as text.
const textEngine = new Liquid({ strictFilters: true, ...limits });
const htmlEngine = new Liquid({ strictFilters: true, outputEscape: 'escape', ...limits });

/** Per field: its parsed template, whether it is HTML, and its parts if it is plain interpolation. */
export type CompiledFields = [field: string, template: Template[], html: boolean, plain: Part[] | null][];

export interface RenderScope {
  data: Record<string, unknown>;
  subscriber: Record<string, unknown>;
  actor: unknown;
}

function engineFor(field: string): Liquid {
  return HTML_FIELDS.has(field) ? htmlEngine : textEngine;
}

/** Parses every field once; throws a LiquidJS error naming the problem when a template is invalid. */
export function compileFields(fields: TemplateFields): CompiledFields {
  return Object.entries(fields).map(([field, source]) => [
    field,
    engineFor(field).parse(source),
    HTML_FIELDS.has(field),
    plainInterpolation(source),
  ]);
}

/**
 * Checks templates for syntax errors; answers one message per broken field.
 *
 * @example
 * templateErrors({ body: '{{ data.x ' }); // [{ field: 'body', message: '...' }]
 */
export function templateErrors(fields: TemplateFields): { field: string; message: string }[] {
  const errors: { field: string; message: string }[] = [];
  for (const [field, source] of Object.entries(fields)) {
    try {
      engineFor(field).parse(source);
    } catch (error) {
      errors.push({ field, message: (error as Error).message.split('\n')[0] ?? 'invalid template' });
    }
  }
  return errors;
}

export function renderFields(compiled: CompiledFields, scope: RenderScope): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, template, html, plain] of compiled) {
    out[field] =
      (plain && interpolate(plain, scope, html, limits.memoryLimit)) ??
      ((html ? htmlEngine : textEngine).renderSync(template, scope as unknown as object) as string);
  }
  return out;
}

/** Compiled workflows, keyed by tenant, key and version, so each version is parsed once per process. */
export class TemplateCache {
  private readonly cache = new Map<string, CompiledFields[]>();

  /** One compiled field set per workflow channel step, in order. */
  steps(workflow: WorkflowRecord): CompiledFields[] {
    const key = `${workflow.tenantId}\u0000${workflow.key}\u0000${workflow.version}`;
    let compiled = this.cache.get(key);
    if (!compiled) {
      compiled = workflow.definition.channels.map((step) => compileFields(step.template));
      if (this.cache.size > 5_000) this.cache.clear();
      this.cache.set(key, compiled);
    }
    return compiled;
  }
}
