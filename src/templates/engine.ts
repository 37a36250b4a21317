import { type FS, Liquid, type LiquidOptions, Tag, type TagToken, type TopLevelToken } from 'liquidjs';

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
  memoryLimit: 10_000_000,
} as const;

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
  return engine;
}

/** Plain-text fields are not entity-encoded: clients render them as text. */
export const textEngine = sandboxed({});
/** HTML fields: every output is HTML-escaped, so event data cannot inject markup. */
export const htmlEngine = sandboxed({ outputEscape: 'escape' });
