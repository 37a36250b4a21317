import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { findJsonProblem } from '../ingest/json-limits.ts';
import { FORMAT_MESSAGES, invalidKey, KEY_MESSAGE, PATTERN_MESSAGE } from '../shared/pattern-messages.ts';
import { type ErrorDetail, validationError } from './errors.ts';

interface SchemaError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

/** `/to/1/email` → `to[1].email`. */
export function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out;
}

function join(base: string, field: string): string {
  return base === '' ? field : `${base}.${field}`;
}

/**
 * A nullable field (`anyOf [T, null]`) fails three ways at once: T's reason, "must be null" and
 * "must match a schema in anyOf". Only T's reason tells the caller anything, so where a union has
 * exactly one alternative besides null, the other two go. A union of several alternatives keeps
 * its "anyOf" line: the reasons listed are alternatives, not requirements to meet together.
 */
function withoutUnionNoise(errors: Iterable<SchemaError>): SchemaError[] {
  const all = [...errors];
  const dropped = new Set<SchemaError>();
  for (const union of all.filter((e) => e.keyword === 'anyOf')) {
    const branches = `${union.schemaPath}/anyOf/`;
    const branchOf = (e: SchemaError) => e.schemaPath.slice(branches.length).split('/')[0]!;
    const inBranches = all.filter((e) => e.schemaPath.startsWith(branches));
    const isNull = (e: SchemaError) =>
      e.keyword === 'type' && e.params.type === 'null' && !e.schemaPath.slice(branches.length).includes('/');
    const others = new Set(inBranches.filter((e) => !isNull(e)).map(branchOf));
    if (others.size !== 1) continue;
    dropped.add(union);
    for (const e of inBranches) if (isNull(e)) dropped.add(e);
  }
  return all.filter((e) => !dropped.has(e));
}

type SchemaNode = Record<string, unknown>;

/**
 * The schema `schemaPath` points at within `root` ("#/properties/quietHours/anyOf/0/properties/
 * start"), or undefined where the path does not lead to one (TypeBox does not escape "/" in the
 * patternProperties keys it walks through: such a path may lead nowhere).
 */
function schemaAt(root: unknown, schemaPath: string): SchemaNode | undefined {
  let node = root;
  for (const raw of schemaPath.replace(/^#/, '').split('/').slice(1)) {
    if (!node || typeof node !== 'object') return undefined;
    node = (node as SchemaNode)[raw.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return node && typeof node === 'object' ? (node as SchemaNode) : undefined;
}

/** What a value outside its pattern is told: the schema's words for it (PatternString), or the regex. */
function patternMessage(error: SchemaError, root: unknown): string {
  const schema = schemaAt(root, error.schemaPath);
  const words = schema?.[PATTERN_MESSAGE];
  return typeof words === 'string' && schema?.pattern === error.params.pattern ? words : error.message;
}

/** What a record's key outside the keys' pattern is told (PatternRecord), or null: not a record's. */
function keyMessage(recordPath: string, root: unknown): string | null {
  const words = schemaAt(root, recordPath)?.[KEY_MESSAGE];
  return typeof words === 'string' ? invalidKey(words) : null;
}

/** What a value outside its format is told: the format's words (FORMAT_MESSAGES), or the raw line. */
function formatMessage(error: SchemaError): string {
  const format = error.params.format;
  return typeof format === 'string' && Object.hasOwn(FORMAT_MESSAGES, format)
    ? FORMAT_MESSAGES[format]!
    : error.message;
}

/**
 * Turns schema errors into one readable detail per problem, each naming its field. Given the
 * `schema` the errors are of, a pattern's failure is said in the words that schema carries for it
 * (src/shared/pattern-messages.ts), not as the regular expression; a format's, in its words.
 */
export function errorDetails(errors: Iterable<SchemaError>, prefix = '', schema?: TSchema): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  const add = (path: string, message: string) => {
    const full = prefix && path ? `${prefix}.${path}`.replace('.[', '[') : prefix || path;
    const key = `${full}\u0000${message}`;
    if (!seen.has(key)) details.push({ path: full, message });
    seen.add(key);
  };
  for (const error of withoutUnionNoise(errors)) {
    const path = pointerToPath(error.instancePath);
    if (error.keyword === 'required') {
      for (const field of (error.params.requiredProperties as string[] | undefined) ?? [])
        add(join(path, field), 'is required');
    } else if (error.keyword === 'additionalProperties') {
      const message = keyMessage(error.schemaPath, schema) ?? 'is not a known field';
      for (const field of (error.params.additionalProperties as string[] | undefined) ?? []) {
        add(join(path, field), message);
      }
    } else if (error.keyword === 'boolean' && error.schemaPath.endsWith('/additionalProperties')) {
      const record = error.schemaPath.slice(0, -'/additionalProperties'.length);
      add(path, keyMessage(record, schema) ?? 'is not a known field');
    } else if (error.keyword === 'pattern') {
      add(path, patternMessage(error, schema));
    } else if (error.keyword === 'format') {
      add(path, formatMessage(error));
    } else if (error.keyword === 'enum' && Array.isArray(error.params.allowedValues)) {
      // "must be equal to one of the allowed values" left the caller guessing which those are.
      add(path, `must be one of ${error.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`);
    } else {
      add(path, error.message);
    }
  }
  return details;
}

export type Validator<T> = (
  value: unknown,
  prefix?: string,
) => { ok: true; value: T } | { ok: false; details: ErrorDetail[] };

/** A compiled TypeBox validator answering either the value or field-named details. */
export function compileValidator<T>(schema: TSchema): Validator<T> {
  const compiled = Compile(schema);
  return (value, prefix = '') =>
    compiled.Check(value)
      ? { ok: true, value: value as T }
      : { ok: false, details: errorDetails(compiled.Errors(value) as Iterable<SchemaError>, prefix, schema) };
}

const WHERE: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'header',
};

/**
 * Converts text fields to the schema's types, but only where nothing is lost: Value.Convert
 * turns "1.5" into the integer 1, which would answer a request the caller did not make. Such a
 * field keeps its text and fails validation with a 400 naming it.
 */
function convertExactly(schema: TSchema, data: unknown): unknown {
  if (!data || typeof data !== 'object') return Value.Convert(schema, data);
  // Value.Convert changes the object it is given: keep the texts as they came.
  const original = { ...(data as Record<string, unknown>) };
  const converted = Value.Convert(schema, { ...original });
  if (!converted || typeof converted !== 'object') return converted;
  const result = { ...(converted as Record<string, unknown>) };
  for (const [key, value] of Object.entries(result)) {
    const text = original[key];
    if (typeof text === 'string' && typeof value === 'number' && String(value) !== text.trim())
      result[key] = text;
  }
  return result;
}

/**
 * Fastify validator compiler: TypeBox checks, errors in our catalogue's shape. Every body is
 * first held to the JSON limits (depth, NUL, unpaired surrogates, numbers JSON cannot keep), so
 * no route stores what its store would refuse or silently change.
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = (route) =>
  schemaValidator(route, true);

/**
 * The same without the JSON limits on the body as a whole: for bulk routes, which hold each item
 * to them one by one so that one bad item does not refuse the others.
 */
export const itemwiseBodyCompiler: FastifySchemaCompiler<TSchema> = (route) => schemaValidator(route, false);

/** The known query parameters of `schema` that take one value but were given several times. */
function repeatedParameters(schema: TSchema, data: unknown): ErrorDetail[] {
  if (!data || typeof data !== 'object') return [];
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  return Object.entries(data as Record<string, unknown>)
    .filter(
      ([key, value]) =>
        Array.isArray(value) && Object.hasOwn(properties, key) && properties[key]!.type !== 'array',
    )
    .map(([key]) => ({ path: key, message: 'is given more than once; send it once' }));
}

function schemaValidator(
  { schema, httpPart }: { schema: TSchema; httpPart?: string },
  limitBody: boolean,
): ReturnType<FastifySchemaCompiler<TSchema>> {
  const validate = compileValidator(schema);
  const part = httpPart ?? 'body';
  const where = WHERE[part] ?? 'body';
  return (data: unknown) => {
    if (limitBody && part === 'body') {
      const problem = findJsonProblem(data, { schema });
      if (problem) return { error: validationError([problem], where) };
    }
    // A query value is text no store can keep or compare either when it holds a NUL (`?category=%00`):
    // PostgreSQL refuses it in any parameter, so it is a 400 naming the field before any read.
    if (part === 'querystring') {
      const problem = findJsonProblem(data);
      if (problem) return { error: validationError([problem], where) };
      // `?status=sent&status=read` arrives as an array: "must be string" told the caller nothing
      // of what went wrong. A parameter that takes one value is named as given more than once.
      const repeated = repeatedParameters(schema, data);
      if (repeated.length > 0) return { error: validationError(repeated, where) };
    }
    let input = data;
    // An empty body is checked as `{}`: fine where every field is optional, "x is required" otherwise.
    if (part === 'body' && (data === undefined || data === null)) input = {};
    // Query strings and path parameters arrive as text: "limit=20" becomes the number 20.
    else if (part !== 'body') input = convertExactly(schema, data);
    const result = validate(input);
    return result.ok ? { value: result.value } : { error: validationError(result.details, where) };
  };
}
