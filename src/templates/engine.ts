import { type FS, Liquid, type LiquidOptions, Tag, type TagToken, type TopLevelToken } from 'liquidjs';
import { registerIntlFilters } from './intl-filters.ts';

/**
 * The LiquidJS engines templates run in: sandboxed, so a template reaches nothing but the values
 * given to it (API.md "Auth and errors"). Out of the box LiquidJS resolves `include`, `render` and
 * `layout` against the process's working directory on the real file system, which let a tenant
 * render the server's own files (its API key among them) into a message. Two walls, each enough
 * on its own: the tags that load files refuse to parse, and the engines have a file system that
 * holds no file at all.
 */

/** Tags that load another template by name: all of them would read a file. */
export const FILE_TAGS = ['include', 'render', 'layout'] as const;

export const PARTIALS_UNSUPPORTED =
  'partials are not supported: templates cannot include, render or layout other templates';

/** A file system with no files: every lookup misses, nothing is ever read. */
const NO_FILES: FS = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async (file) => {
    throw new Error(`no template named ${JSON.stringify(file)}`);
  },
  readFileSync: (file) => {
    throw new Error(`no template named ${JSON.stringify(file)}`);
  },
  resolve: (_dir, file) => file,
  contains: async () => false,
  containsSync: () => false,
};

/** A tag that refuses to parse, so a template using it is refused when its workflow is saved. */
class RefusedFileTag extends Tag {
  constructor(token: TagToken, remainTokens: TopLevelToken[], liquid: Liquid) {
    super(token, remainTokens, liquid);
    throw new Error(`{% ${token.name} %}: ${PARTIALS_UNSUPPORTED}`);
  }
  // Never runs: the constructor throws.
  *render(): Generator<unknown, void, unknown> {}
}

/** Render time budget of one message, all its fields together (see renderFields). */
export const MESSAGE_BUDGET_MS = 50;

export const LIMITS = {
  parseLimit: 100_000,
  // LiquidJS measures this in milliseconds per render call and checks it before every node it
  // renders (each loop iteration included); renderFields passes each field what is left of the
  // message's budget.
  renderLimit: MESSAGE_BUDGET_MS,
  // Units of work filters and ranges may use (array items, string characters). One filter over a
  // long array runs between two clock checks: 1,000,000 keeps that under a few hundred ms.
  memoryLimit: 1_000_000,
} as const;

interface FilterThis {
  context: { renderLimit: { check(now: number): void }; memoryLimit: { use(count: number): void } };
}
type FilterHandler = (this: FilterThis, ...args: unknown[]) => unknown;

/**
 * Filters that evaluate a Liquid expression per item (about 1.7 µs each, against a few ns for a
 * plain item), filters that look a property up in each item through LiquidJS's scope (up to 4 µs
 * each), and filters that walk an array without charging the memory limit at all. Each is charged
 * per item before it runs, so one call over a long array stays within the render budget:
 * 1,000,000 / 32 ≈ 31,000 expression evaluations ≈ 50 ms. The property filters were charged an
 * item a unit: `where` over an event's array of 500,000 numbers (1 MB of data) held the worker
 * thread — every tenant's deliveries — 1.6–2 s a render, twice a message (withOneMoreBudget).
 */
const ITEM_COST: Readonly<Record<string, number>> = {
  where_exp: 32,
  reject_exp: 32,
  group_by_exp: 32,
  has_exp: 32,
  find_exp: 32,
  find_index_exp: 32,
  where: 64,
  reject: 64,
  group_by: 64,
  find: 64,
  find_index: 64,
  has: 64,
  map: 16,
  sum: 1,
};

function itemsIn(value: unknown): number {
  return Array.isArray(value) || typeof value === 'string' ? value.length : 1;
}

/**
 * The characters a filter compares, hashes or joins over an array: each item's text (or its
 * `property`'s), at least 1 an item. LiquidJS charges these filters per item, not per character:
 * `sort_natural` over 2,048 references to two 200,000-character strings was charged 2,048 units
 * and lower-cased both strings in every comparison, for 7 s — with every tenant's requests waiting.
 */
function charactersIn(value: unknown, property?: unknown): number {
  if (!Array.isArray(value)) return typeof value === 'string' ? value.length : 1;
  let characters = 0;
  for (const item of value) {
    const compared =
      typeof property === 'string' && item !== null && typeof item === 'object'
        ? (item as Record<string, unknown>)[property]
        : item;
    characters += typeof compared === 'string' ? Math.max(1, compared.length) : 1;
  }
  return characters;
}

/**
 * Characters per unit of the memory limit: a character compared or copied costs about a
 * nanosecond, an array item's unit far more, so 1,000,000 units allow 16 M characters (tens of ms).
 */
const CHARACTERS_PER_UNIT = 16;

/** Units one comparison of a sort costs besides its text: about 100 ns through LiquidJS's comparator. */
const COMPARISON_COST = 2;

/**
 * A sort compares each item about log2(n) times, each comparison as long as the text, and each
 * one costs COMPARISON_COST however short the text: sorting 150,000 numbers (a 1 MB event's
 * array) was charged 170,000 units and took 270 ms, twice a message.
 */
const sortCost = (args: unknown[]) =>
  Math.ceil(
    Math.ceil(Math.log2(itemsIn(args[0]) + 1)) *
      (COMPARISON_COST * itemsIn(args[0]) + charactersIn(args[0], args[1]) / CHARACTERS_PER_UNIT),
  );
const linearCost = (args: unknown[]) => Math.ceil(charactersIn(args[0], args[1]) / CHARACTERS_PER_UNIT);

/** Filters whose work grows with the length of the text in the items, charged for it up front. */
const TEXT_COST: Readonly<Record<string, (args: unknown[]) => number>> = {
  sort: sortCost,
  sort_natural: sortCost,
  // Shuffled by a sort with a random comparator (LiquidJS charges it an item a unit): one call
  // over 500,000 numbers held the worker 0.5 s.
  sample: (args) => Math.ceil(Math.log2(itemsIn(args[0]) + 1)) * itemsIn(args[0]),
  uniq: linearCost,
  where: linearCost,
  reject: linearCost,
  group_by: linearCost,
  join: (args) => Math.ceil(charactersIn(args[0]) / CHARACTERS_PER_UNIT),
};

/**
 * LiquidJS checks its render limit between nodes, never inside a filter, and a filter such as
 * `find_exp` evaluates an expression (itself with filters) per item: nested, one output ran for
 * seconds past the budget. Every filter call now checks the clock first, so nested filters stop
 * at the budget; one flat filter over a long array is bounded by `memoryLimit` instead.
 */
function timeFilters(engine: Liquid): void {
  for (const [name, implementation] of Object.entries(engine.filters)) {
    const handler = (typeof implementation === 'function' ? implementation : implementation.handler) as
      | FilterHandler
      | undefined;
    if (!handler) continue;
    const raw = typeof implementation === 'function' ? false : implementation.raw === true;
    const cost = ITEM_COST[name] ?? 0;
    const textCost = TEXT_COST[name];
    engine.registerFilter(name, {
      raw,
      handler: function (this: FilterThis, ...args: unknown[]) {
        this.context.renderLimit.check(performance.now());
        if (cost > 0) this.context.memoryLimit.use(itemsIn(args[0]) * cost);
        if (textCost) this.context.memoryLimit.use(textCost(args));
        return handler.apply(this, args);
      } as never,
    });
  }
}

function sandboxed(options: LiquidOptions): Liquid {
  const engine = new Liquid({
    ...options,
    ...LIMITS,
    strictFilters: true,
    fs: NO_FILES,
    root: [],
    partials: [],
    layouts: [],
    relativeReference: false,
    // Never look anything up through a prototype of the values given.
    ownPropertyOnly: true,
  });
  for (const name of FILE_TAGS) engine.registerTag(name, RefusedFileTag);
  registerIntlFilters(engine);
  timeFilters(engine);
  return engine;
}

/** Plain-text fields are not entity-encoded: clients render them as text. */
export const textEngine = sandboxed({});
/** HTML fields: every output is HTML-escaped, so event data cannot inject markup. */
export const htmlEngine = sandboxed({ outputEscape: 'escape' });

/** A value read from JSON that LiquidJS would print its own lossy way: an array or a plain object. */
function isStructured(value: unknown): value is object {
  if (Array.isArray(value)) return true;
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Each object's keys in sorted order, own properties only (a "__proto__" key stays a key). */
function sortedKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const sorted: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value).sort()) sorted[key] = (value as Record<string, unknown>)[key];
  return sorted;
}

/**
 * An array or object as canonical JSON (keys sorted at every level), so equal values print the
 * same text and different ones different text.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, sortedKeys) ?? '';
}

/**
 * What a digest key prints for each output: LiquidJS prints every object as "[object Object]" and
 * an array as its items run together ([1, 2] and [12] both "12"), so events whose keys were
 * different objects or arrays shared one digest. Those print as canonical JSON instead, charged to
 * the memory limit like a filter's text; every other value prints as in any template.
 */
function digestKeyOutput(this: FilterThis, value: unknown): unknown {
  if (!isStructured(value)) return value;
  const json = canonicalJson(value);
  this.context.memoryLimit.use(Math.ceil(json.length / CHARACTERS_PER_UNIT));
  return json;
}

/**
 * The digest key's engine (API.md "Workflows": the window is per rendered key): the text engine,
 * but an array or object output prints as canonical JSON (digestKeyOutput), also through `raw`,
 * which would otherwise skip it.
 */
// LiquidJS types an outputEscape as answering text; any value answered is printed as usual.
export const digestKeyEngine = sandboxed({ outputEscape: digestKeyOutput as never });
digestKeyEngine.registerFilter('raw', { raw: true, handler: digestKeyOutput as never });
