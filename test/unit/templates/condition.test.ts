import { describe, expect, it } from 'vitest';
import type { WorkflowRecord } from '../../../src/shared/model.ts';
import { compileCondition, conditionError, evaluateCondition } from '../../../src/templates/condition.ts';
import type { RenderScope } from '../../../src/templates/render.ts';
import { TemplateCache, TemplateCompileError, TemplateTimeout } from '../../../src/templates/render.ts';

const scope = (
  data: Record<string, unknown>,
  subscriber: Record<string, unknown> = {},
  actor: unknown = null,
) => ({ data, subscriber, actor }) as RenderScope;

const holds = (expression: string, at: RenderScope) =>
  evaluateCondition(compileCondition(expression), at, 50);

describe('step conditions: parsing', () => {
  it('accepts expressions over data, subscriber and actor, with and/or/contains/not and filters', () => {
    for (const expression of [
      'data.amount > 100',
      "data.amount > 100 and subscriber.locale == 'de'",
      "actor == 'user_1' or data.vip",
      "data.tags contains 'urgent'",
      'not data.muted',
      'data.items | size',
      'data.list == empty',
    ])
      expect(conditionError(expression), expression).toBeNull();
  });

  it('refuses what LiquidJS would read leniently: trailing words, a missing operand, a stray operator', () => {
    expect(conditionError('data.amount > 100 foo bar')).toMatch(/expected an operator .* before "foo"/);
    expect(conditionError('data.amount ==')).toMatch(/ends where a value is expected/);
    expect(conditionError('and data.x')).toMatch(/"and" needs a value before it/);
    expect(conditionError('data.x not')).toMatch(/"not" cannot follow a value/);
    expect(conditionError('data.x | upcase extra')).toMatch(/expected ":" after filter name/);
    expect(conditionError('data.x, data.y')).toMatch(/unexpected ", data.y"/);
  });

  it('refuses unknown filters (strict filters) and names them', () => {
    expect(conditionError('data.x | no_such_filter')).toMatch(/undefined filter: no_such_filter/);
  });

  it('refuses an include, render or layout smuggled in, as partials', () => {
    for (const tag of ['include', 'render', 'layout'])
      expect(conditionError(`true %}{% ${tag} 'package.json' %}{% if true`)).toMatch(
        /partials are not supported/,
      );
  });

  it('refuses any other tag or output smuggled in: the condition never renders as a template', () => {
    for (const smuggled of [
      'true %}{{ data.secret }}{% endif %}{% if true',
      'false %}{% else %}{{ data.secret }}',
      'false %}{% elsif true %}{{ data.secret }}',
      'true %}{% assign x = 1 %}{% endif %}{% if true',
    ])
      expect(conditionError(smuggled), smuggled).toMatch(/single expression/);
    // Unbalanced, it does not even parse.
    expect(conditionError('true %}{{ data.secret }}{% if true')).toMatch(/not closed/);
  });
});

describe('step conditions: Liquid truthiness', () => {
  it('compares numbers and strings', () => {
    expect(holds('data.amount > 100', scope({ amount: 150 }))).toBe(true);
    expect(holds('data.amount > 100', scope({ amount: 100 }))).toBe(false);
    expect(holds("subscriber.locale == 'de'", scope({}, { locale: 'de' }))).toBe(true);
    expect(holds("subscriber.locale == 'de'", scope({}, { locale: 'en' }))).toBe(false);
    expect(holds("actor == 'user_1'", scope({}, {}, 'user_1'))).toBe(true);
    expect(holds("actor == 'user_1'", scope({}, {}, null))).toBe(false);
  });

  it('only false and nil are false: 0, "" and empty lists are true, a missing value is false', () => {
    expect(holds('data.x', scope({ x: false }))).toBe(false);
    expect(holds('data.x', scope({ x: null }))).toBe(false);
    expect(holds('data.x', scope({}))).toBe(false);
    expect(holds('data.x.y.z', scope({}))).toBe(false);
    expect(holds('data.x', scope({ x: 0 }))).toBe(true);
    expect(holds('data.x', scope({ x: '' }))).toBe(true);
    expect(holds('data.x', scope({ x: [] }))).toBe(true);
    expect(holds('data.x == empty', scope({ x: [] }))).toBe(true);
  });

  it('evaluates and/or right to left, as Liquid does', () => {
    // Liquid has no precedence: `a or b and c` is `a or (b and c)`.
    expect(holds('data.a or data.b and data.c', scope({ a: true, b: false, c: false }))).toBe(true);
    expect(holds('data.a and data.b or data.c', scope({ a: false, b: false, c: true }))).toBe(false);
  });

  it('stops a condition that runs past its budget with TemplateTimeout', () => {
    // Each inner item weighs a long test, so the time runs out long before the filters' memory
    // charge (per item, whatever the test) reaches its limit; with a one-comparison test a fast
    // run, or one given a second budget after a pause, hit the memory limit first (a RenderError).
    const test = Array.from({ length: 40 }, (_, i) => `y == ${-1 - i}`).join(' or ');
    const slow = compileCondition(`(1..2000) | find_exp: "x", "(1..2000) | find_exp: 'y', '${test}'"`);
    expect(() => evaluateCondition(slow, scope({}), 20)).toThrow(TemplateTimeout);
  });
});

describe('TemplateCache conditions', () => {
  const workflow = (channels: WorkflowRecord['definition']['channels'], version = 1) =>
    ({ tenantId: 't', key: 'w', version, definition: { channels } }) as unknown as WorkflowRecord;

  it('answers null for a workflow without conditions, so deliveries have nothing to evaluate', () => {
    const cache = new TemplateCache();
    expect(cache.conditions(workflow([{ channel: 'in_app', template: { title: 'x' } }]))).toBeNull();
  });

  it('compiles each step condition once per version; a stored one that no longer parses is an error', () => {
    const cache = new TemplateCache();
    const w = workflow(
      [
        { channel: 'in_app', template: { title: 'x' } },
        { channel: 'email', template: { subject: 'x' }, if: 'data.amount > 100' },
        { channel: 'sms', template: { body: 'x' }, if: "true %}{% include 'f' %}{% if true" },
      ],
      2,
    );
    const conditions = cache.conditions(w)!;
    expect(conditions[0]).toBeNull();
    expect(Array.isArray(conditions[1])).toBe(true);
    expect(conditions[2]).toBeInstanceOf(TemplateCompileError);
    expect(cache.conditions(w)).toBe(conditions);
  });
});
