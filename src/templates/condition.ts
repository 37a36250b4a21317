import { type Liquid, type Template, Tokenizer, TypeGuards } from 'liquidjs';
import { textEngine } from './engine.ts';
import { type RenderScope, TemplateTimeout, withOneMoreBudget } from './render.ts';

/**
 * A workflow step's `"if"`: one Liquid expression over `data`, `subscriber` and `actor`, e.g.
 * `data.amount > 100 and subscriber.locale == 'de'`. It runs in the same sandboxed engine as the
 * templates (no file tags, strict filters, every filter timed), as the condition of an
 * `{% if %}` tag, so truthiness is Liquid's own: only `false` and `nil` (a missing value) are
 * false; `0`, `""` and empty lists are true.
 */

/** A condition that is not one well-formed expression (refused at PUT with 400). */
export class ConditionError extends Error {
  override name = 'ConditionError';
}

/** Operators that take one operand (LiquidJS's `not`); all others take two. */
const UNARY = new Set(['not']);

/**
 * LiquidJS reads an `{% if %}` condition leniently: `a > 1 b c` or `a ==` parse and evaluate to
 * something. A condition a tenant typed wrong should be refused when saved, not silently differ
 * from what was meant, so the tokens must alternate value, operator, value… and the filters that
 * may follow must reach the end of the text.
 */
function checkWellFormed(engine: Liquid, expression: string): void {
  const { operators, groupedExpressions } = engine.options;
  const tokenizer = new Tokenizer(expression, operators, undefined, undefined, groupedExpressions);
  let wantValue = true;
  for (const token of tokenizer.readExpressionTokens()) {
    const text = token.getText().trim();
    if (TypeGuards.isOperatorToken(token)) {
      const unary = UNARY.has(token.operator);
      if (unary !== wantValue) {
        throw new ConditionError(
          unary ? `"${text}" cannot follow a value` : `"${text}" needs a value before it`,
        );
      }
      wantValue = true;
    } else {
      if (!wantValue) throw new ConditionError(`expected an operator (==, >, and, …) before "${text}"`);
      wantValue = false;
    }
  }
  if (wantValue) throw new ConditionError('the expression ends where a value is expected');
  tokenizer.readFilters();
  tokenizer.skipBlank();
  if (!tokenizer.end()) throw new ConditionError(`unexpected "${tokenizer.remaining().slice(0, 40)}"`);
}

/** The only shape the wrapped condition may parse to: one `if` with one branch that prints "1". */
function isBareIf(templates: Template[]): boolean {
  if (templates.length !== 1) return false;
  const tag = templates[0] as unknown as {
    name?: string;
    branches?: { templates: Template[] }[];
    elseTemplates?: Template[];
  };
  if (tag.name !== 'if' || tag.branches?.length !== 1 || tag.elseTemplates !== undefined) return false;
  const body = tag.branches[0]!.templates;
  return body.length === 1 && TypeGuards.isHTMLToken((body[0] as unknown as { token: unknown }).token);
}

/**
 * Parses a condition once (per workflow version, see TemplateCache). Throws ConditionError, or a
 * LiquidJS error naming the problem (an unknown filter, an `include`), when it cannot be used.
 */
export function compileCondition(expression: string): Template[] {
  const engine = textEngine;
  // Parsed first, so an `include` smuggled in (`x %}{% include 'f' %}{% if y`) is refused as such.
  const templates = engine.parse(`{% if ${expression} %}1{% endif %}`);
  // Text such as `x %}{{ data.secret }}{% if y` parses too: it must never render as a template.
  if (!isBareIf(templates)) throw new ConditionError('must be a single expression, without tags or output');
  checkWellFormed(engine, expression);
  return templates;
}

/** Why a condition cannot be used, or null; for the check at PUT. */
export function conditionError(expression: string): string | null {
  try {
    compileCondition(expression);
    return null;
  } catch (error) {
    // LiquidJS's line and column count the `{% if ` wrapper: the expression is one line anyway.
    const first = (error as Error).message.split('\n')[0] ?? 'invalid condition';
    return first.replace(/, line:\d+, col:\d+$/, '');
  }
}

const RENDER_LIMIT_EXCEEDED = /render limit exceeded/;

/**
 * Evaluates a compiled condition within `budgetMs`. Throws TemplateTimeout past the budget, a
 * LiquidJS error when evaluation fails (a filter given a value it cannot take).
 */
export function evaluateCondition(compiled: Template[], scope: RenderScope, budgetMs: number): boolean {
  return withOneMoreBudget(budgetMs, (budget) => evaluateOnce(compiled, scope, budget));
}

function evaluateOnce(compiled: Template[], scope: RenderScope, budgetMs: number): boolean {
  const started = performance.now();
  let output: string;
  try {
    output = textEngine.renderSync(compiled, scope as unknown as object, { renderLimit: budgetMs }) as string;
  } catch (error) {
    if (RENDER_LIMIT_EXCEEDED.test((error as Error).message)) throw new TemplateTimeout(budgetMs);
    throw error;
  }
  // Work inside one filter call can finish past the limit: that is a timeout too.
  if (performance.now() - started > budgetMs) throw new TemplateTimeout(budgetMs);
  return output === '1';
}
