/**
 * Renders the OpenAPI document Tidings serves as Markdown (docs/reference.md). Pure: the same
 * document gives the same text, so test/api/openapi.test.ts can tell when the committed file is
 * stale.
 */

// biome-ignore lint/suspicious/noExplicitAny: the document is walked field by field
type Json = any;

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

/** `Type.String()` → `string`, unions joined, arrays and records spelled out. */
export function typeName(schema: Json, depth = 0): string {
  if (!schema || typeof schema !== 'object') return 'any';
  if (schema.$ref) return String(schema.$ref).split('/').pop()!;
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v: unknown) => JSON.stringify(v)).join(' | ');
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return [...new Set(union.map((s: Json) => typeName(s, depth)))].join(' | ');
  if (schema.type === 'array') {
    const item = typeName(schema.items, depth);
    return item.includes(' | ') ? `(${item})[]` : `${item}[]`;
  }
  if (schema.type === 'object') {
    if (schema.patternProperties) {
      const value = Object.values<Json>(schema.patternProperties)[0];
      return `map of ${typeName(value, depth)}`;
    }
    return 'object';
  }
  if (schema.type === 'string' && schema.format) return `string (${schema.format})`;
  return Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? 'any');
}

function cell(text: unknown): string {
  return String(text ?? '')
    .replaceAll('|', '\\|')
    .replaceAll('\n', ' ');
}

/** Bounds worth a reader's eye; patterns and lengths a description already states are left out. */
function limits(schema: Json): string {
  const parts: string[] = [];
  if (schema?.description) return '';
  if (schema?.minLength !== undefined || schema?.maxLength !== undefined)
    parts.push(`${schema.minLength ?? 0}–${schema.maxLength ?? '∞'} chars`);
  if (schema?.minimum !== undefined || schema?.maximum !== undefined)
    parts.push(`${schema.minimum ?? '−∞'}–${schema.maximum ?? '∞'}`);
  if (schema?.maxItems !== undefined) parts.push(`at most ${schema.maxItems} items`);
  if (schema?.default !== undefined) parts.push(`default ${JSON.stringify(schema.default)}`);
  return parts.join('; ');
}

/** The fields of an object, nested objects and arrays of objects spelled out (`items[].id`). */
function fieldRows(schema: Json, prefix: string, depth: number): string[] {
  const required = new Set<string>(schema.required ?? []);
  const rows: string[] = [];
  for (const [name, field] of Object.entries<Json>(schema.properties ?? {})) {
    const notes = [field.description, limits(field)].filter(Boolean).join('; ');
    const path = `${prefix}${name}`;
    rows.push(
      `| \`${path}\` | ${cell(typeName(field))} | ${required.has(name) ? 'yes' : ''} | ${cell(notes)} |`,
    );
    if (depth >= 2) continue;
    if (field.properties) rows.push(...fieldRows(field, `${path}.`, depth + 1));
    else if (field.items?.properties) rows.push(...fieldRows(field.items, `${path}[].`, depth + 1));
  }
  return rows;
}

function fieldsTable(schema: Json): string[] {
  if (!schema?.properties) return [`Type: ${typeName(schema)}`, ''];
  return [
    '| field | type | required | notes |',
    '| --- | --- | --- | --- |',
    ...fieldRows(schema, '', 0),
    '',
  ];
}

const AUTH: Record<string, string> = {
  none: 'No key.',
  server: 'Authorization: Bearer the server (tenant) API key.',
  subscriber:
    'Authorization: Bearer a subscriber token (`POST /v1/subscribers/{subscriberId}/token`); streams also take `?token=`.',
  'server-or-subscriber':
    "Authorization: Bearer the server API key, or the subscriber's token for their own messages.",
  operator:
    'Authorization: Bearer the operator key (`TIDINGS_OPERATOR_KEY`); without it set, the route answers 404.',
};

function json(value: unknown): string[] {
  return ['```json', JSON.stringify(value, null, 2), '```', ''];
}

function operationSection(method: string, path: string, operation: Json): string[] {
  const out = [`### ${method.toUpperCase()} ${path}`, ''];
  if (operation.summary) out.push(`${operation.summary}.`, '');
  out.push(AUTH[operation['x-tidings-auth']] ?? AUTH.server!, '');
  const parameters: Json[] = operation.parameters ?? [];
  if (parameters.length > 0) {
    out.push('| parameter | in | type | required | notes |', '| --- | --- | --- | --- | --- |');
    for (const p of parameters) {
      const notes = [
        p.description ?? p.schema?.description,
        limits(p.schema),
        p.example && `e.g. \`${p.example}\``,
      ]
        .filter(Boolean)
        .join('; ');
      out.push(
        `| \`${p.name}\` | ${p.in} | ${cell(typeName(p.schema))} | ${p.required ? 'yes' : ''} | ${cell(notes)} |`,
      );
    }
    out.push('');
  }
  const body = operation.requestBody?.content?.['application/json'];
  if (body) {
    out.push('Request body:', '', ...fieldsTable(body.schema));
    if (body.example !== undefined) out.push('Example:', '', ...json(body.example));
  }
  out.push('| status | meaning |', '| --- | --- |');
  for (const [status, response] of Object.entries<Json>(operation.responses ?? {})) {
    out.push(`| ${status} | ${cell(response.description)} |`);
  }
  out.push('');
  for (const [status, response] of Object.entries<Json>(operation.responses ?? {})) {
    if (Number(status) >= 300) continue;
    const content = response.content?.['application/json'];
    if (!content) continue;
    out.push(`${status} body:`, '', ...fieldsTable(content.schema));
    if (content.example !== undefined) out.push('Example:', '', ...json(content.example));
  }
  return out;
}

/** Every error code the document names, with its status. */
function errorCodes(document: Json): [string, string][] {
  const codes = new Map<string, string>();
  for (const item of Object.values<Json>(document.paths ?? {}))
    for (const method of METHODS)
      for (const [status, response] of Object.entries<Json>(item[method]?.responses ?? {}))
        for (const code of Object.keys(response.content?.['application/json']?.examples ?? {}))
          if (Number(status) >= 400) codes.set(code, status);
  return [...codes].sort(([a, sa], [b, sb]) => Number(sa) - Number(sb) || a.localeCompare(b));
}

export function renderReference(document: Json): string {
  const byTag = new Map<string, string[]>();
  for (const [path, item] of Object.entries<Json>(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const tag = operation.tags?.[0] ?? 'Other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), ...operationSection(method, path, operation)]);
    }
  }
  const out = [
    '# API reference',
    '',
    '<!-- Generated from /openapi.json by `npm run docs:api`; do not edit by hand. test/api/openapi.test.ts fails when it is stale. -->',
    '',
    `${document.info?.title ?? 'API'} ${document.info?.version ?? ''}: every route the server serves, with its`,
    'parameters, bodies, statuses and errors. A running server serves the same document at',
    '`/openapi.json`. The contract in prose is [api.md](api.md); guides are listed in',
    '[README.md](README.md).',
    '',
    'JSON in and out, UTF-8; times are ISO 8601 UTC strings. Authenticate with',
    '`Authorization: Bearer <key>`. Every error has the body',
    '`{"error": {"code", "message", "details": [{"path", "message"}]}}`; program against `code`.',
    '',
    '## Error codes',
    '',
    '| code | status |',
    '| --- | --- |',
    ...errorCodes(document).map(([code, status]) => `| \`${code}\` | ${status} |`),
    '',
    'Any route also answers 404 `not_found` for an unknown path, 405 `method_not_allowed` (with',
    '`Allow`) for a known path with another method, 414 `uri_too_long` and 431',
    '`header_fields_too_large`.',
    '',
    'The inbox WebSocket, `GET /v1/inbox/ws`, is not in the OpenAPI document (OpenAPI cannot',
    'describe one): see [channels/in-app.md](channels/in-app.md).',
    '',
  ];
  for (const [tag, lines] of byTag) out.push(`## ${tag}`, '', ...lines);
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}
