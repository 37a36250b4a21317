import type { AuthMode } from '../context.ts';
import { ERROR_CODES, type ErrorCode } from '../errors.ts';
import { ErrorBody } from './bodies.ts';
import { OPERATIONS, type OperationDoc } from './operations.ts';

/** `/v1/events/:eventId` → `/v1/events/{eventId}`, as OpenAPI writes paths. */
export function openapiPath(fastifyUrl: string): string {
  return fastifyUrl.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

/** Errors every route of a kind can answer, whatever it does. */
function commonErrors(auth: AuthMode, method: (typeof METHODS)[number], operation: Operation): ErrorCode[] {
  const codes: ErrorCode[] = ['internal', 'unavailable'];
  if (auth !== 'none') codes.push('unauthorized', 'too_many_failed_attempts');
  // Without TIDINGS_OPERATOR_KEY the operator routes do not exist.
  if (auth === 'operator') codes.push('not_found');
  // A subscriber token outlives its subscriber: once erased, every read through it answers 404
  // (API.md "Personal data"), on the inbox routes and streams as on the rest.
  if (auth === 'subscriber' || auth === 'server-or-subscriber') codes.push('not_found');
  // A body sent to a route that takes none is still read before it is ignored (a GET's is not):
  // a JSON null, JSON that does not parse, another media type or too many bytes are answered as
  // on any route (docs/api-behaviour-notes.md), so those answers are documented too.
  if (operation.requestBody || method !== 'get') {
    codes.push('validation_failed', 'invalid_json', 'payload_too_large', 'unsupported_media_type');
  }
  if (operation.parameters?.length) codes.push('validation_failed');
  return codes;
}

const ERROR_MESSAGES: Partial<Record<ErrorCode, string>> = {
  validation_failed: 'body.to[0].email must be an email address',
  unauthorized: 'the API key is not valid',
  not_found: 'event "evt_123" was not found',
  unavailable: 'the store is busy; retry shortly',
  workflow_not_found: 'no workflow "welcome": create it with PUT /v1/workflows/welcome',
};

/** One response per status, listing its codes, each with an example body. */
function errorResponses(codes: Iterable<ErrorCode>): Record<string, unknown> {
  const byStatus = new Map<number, Set<ErrorCode>>();
  for (const code of codes) {
    const status = ERROR_CODES[code];
    const set = byStatus.get(status) ?? new Set();
    set.add(code);
    byStatus.set(status, set);
  }
  const responses: Record<string, unknown> = {};
  for (const [status, set] of [...byStatus].sort(([a], [b]) => a - b)) {
    const list = [...set];
    responses[String(status)] = {
      description: `error: ${list.join(', ')}${status === 429 || status === 503 ? ' (see Retry-After)' : ''}`,
      content: {
        'application/json': {
          schema: { $ref: '#/components/schemas/Error' },
          examples: Object.fromEntries(
            list.map((code) => [
              code,
              {
                value: {
                  error: {
                    code,
                    message: ERROR_MESSAGES[code] ?? code.replaceAll('_', ' '),
                    details:
                      code === 'validation_failed'
                        ? [{ path: 'to[0].email', message: 'must be an email address' }]
                        : [],
                  },
                },
              },
            ]),
          ),
        },
      },
    };
  }
  return responses;
}

/** Adds each HTML refusal page to its status, beside any JSON error body the status also has. */
function withPages(
  responses: Record<string, unknown>,
  pages: Record<number, string>,
): Record<string, unknown> {
  const all = { ...responses };
  for (const [status, description] of Object.entries(pages)) {
    const json = all[status] as { description: string; content: Record<string, unknown> } | undefined;
    const html = { 'text/html': { schema: { type: 'string' } } };
    all[status] = json
      ? { description: `${json.description}; ${description}`, content: { ...json.content, ...html } }
      : { description, content: html };
  }
  return all;
}

function successResponses(doc: OperationDoc): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const [status, success] of Object.entries(doc.success)) {
    if (success.schema) {
      const media: Record<string, unknown> = { schema: success.schema };
      if (success.example !== undefined) media.example = success.example;
      responses[status] = { description: success.description, content: { 'application/json': media } };
    } else if (success.media) {
      responses[status] = {
        description: success.description,
        content: { [success.media]: { schema: { type: 'string' } } },
      };
    } else {
      responses[status] = { description: success.description };
    }
  }
  return responses;
}

interface Operation {
  summary?: string;
  tags?: string[];
  parameters?: { in: string; name: string; example?: unknown; description?: string; schema?: unknown }[];
  requestBody?: {
    content?: Record<
      string,
      { example?: unknown; schema?: { properties?: Record<string, { items?: unknown }> } }
    >;
  };
  responses?: Record<string, unknown>;
  security?: unknown[];
  /** How the route authenticates: none, server, subscriber, server-or-subscriber, operator. */
  'x-tidings-auth'?: AuthMode;
}

interface Document {
  paths?: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
  components?: Record<string, Record<string, unknown>>;
}

/**
 * Completes what @fastify/swagger writes from the routes' request schemas with what they answer:
 * each operation's success statuses and bodies, its errors (its own and those of its kind), each
 * from the error catalogue, and examples. `authOf` tells how each operation authenticates.
 */
export function describeOperations<T>(document: T, authOf: (key: string) => AuthMode): T {
  const doc = document as Document;
  doc.components = { ...doc.components, schemas: { ...doc.components?.schemas, Error: ErrorBody } };
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const key = `${method.toUpperCase()} ${path}`;
      const described = OPERATIONS[key];
      const auth = authOf(key);
      operation['x-tidings-auth'] = auth;
      if (auth === 'none') operation.security = [];
      if (!described) continue;
      operation.summary = described.summary;
      operation.tags = [described.tag];
      const byHand = (described.readByHand ?? []).map((p) => ({ ...p, schema: { type: 'string' } }));
      if (byHand.length > 0) operation.parameters = [...(operation.parameters ?? []), ...byHand];
      for (const parameter of operation.parameters ?? []) {
        const example = (parameter.in === 'path' ? described.params : described.query)?.[parameter.name];
        if (example !== undefined) parameter.example = example;
      }
      const json = operation.requestBody?.content?.['application/json'];
      if (json && described.body !== undefined) json.example = described.body;
      const bulk = described.bulkItems && json?.schema?.properties?.[described.bulkItems.property];
      // A plain JSON copy: TypeBox keeps its own markers on a schema, which the document must not carry.
      if (bulk) bulk.items = JSON.parse(JSON.stringify(described.bulkItems!.schema));
      const errors = new Set([...commonErrors(auth, method, operation), ...(described.errors ?? [])]);
      operation.responses = {
        ...successResponses(described),
        ...withPages(errorResponses(errors), described.pages ?? {}),
      };
    }
  }
  return document;
}
