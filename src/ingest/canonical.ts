import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so equal payloads hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function payloadHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64url');
}

const CLOSE_ARRAY = Symbol('close array');
const CLOSE_OBJECT = Symbol('close object');
const COMMA = Symbol('comma');
class Key {
  constructor(readonly name: string) {}
}

/**
 * A hash of a parsed request body, computed without recursion: a bulk body may hold items nested
 * far deeper than JSON.stringify's stack allows (they are refused one by one, but the request as
 * a whole is still keyed and replayed). Two bodies hash equally when they are the same JSON value,
 * whatever the order of their objects' keys (as payloadHash, which keys single events): a retry
 * serialised again by another client or process is the same body, not a 409. `keysAsSent` hashes
 * keys in their order instead, as versions before 2026-12-07 stored it (see replayed in
 * src/api/routes/events.ts).
 */
export function bodyHash(value: unknown, keysAsSent = false): string {
  const hash = createHash('sha256');
  let chunk = '';
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === COMMA) chunk += ',';
    else if (node === CLOSE_ARRAY) chunk += ']';
    else if (node === CLOSE_OBJECT) chunk += '}';
    else if (node instanceof Key) chunk += `${JSON.stringify(node.name)}:`;
    else if (Array.isArray(node)) {
      chunk += '[';
      stack.push(CLOSE_ARRAY);
      for (let i = node.length - 1; i >= 0; i--) stack.push(COMMA, node[i]);
    } else if (node !== null && typeof node === 'object') {
      chunk += '{';
      stack.push(CLOSE_OBJECT);
      const keys = keysAsSent ? Object.keys(node) : Object.keys(node).sort();
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!;
        stack.push(COMMA, (node as Record<string, unknown>)[key], new Key(key));
      }
    } else if (typeof node === 'number' && !Number.isFinite(node)) chunk += String(node);
    else chunk += JSON.stringify(node) ?? 'null';
    if (chunk.length > 65_536) {
      hash.update(chunk);
      chunk = '';
    }
  }
  return hash.update(chunk).digest('base64url');
}
