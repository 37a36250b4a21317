import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLIENT_SCHEMAS_FILE, renderClientSchemas } from '../../src/api/client-types.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** Module specifiers a JavaScript or declaration file imports or re-exports (static and dynamic). */
function specifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/** Every file reachable from `entry` through relative imports, failing on anything else. */
function importGraph(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of specifiers(read(file))) {
      expect(spec, `${file} imports ${spec}: the client may import only its own files`).toMatch(/^\.\.?\//);
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      expect(target, `${file} reaches ${target}, outside client/`).toMatch(/^client\//);
      visit(target.endsWith('.js') && file.endsWith('.d.ts') ? target.replace(/\.js$/, '.d.ts') : target);
    }
  };
  visit(entry);
  return [...seen];
}

describe('the tidings/client package entry', () => {
  it('is exported as its own entry, JavaScript with type declarations, no build step', () => {
    const pkg = JSON.parse(read('package.json'));
    expect(pkg.exports['./client']).toEqual({ types: './client/index.d.ts', default: './client/index.js' });
  });

  it('pulls in no server code and no Node built-in: only files under client/', () => {
    expect(importGraph('client/index.js')).toEqual(['client/index.js']);
    expect(importGraph('client/index.d.ts').sort()).toEqual(['client/index.d.ts', 'client/schemas.d.ts']);
    // The walk itself sees imports (or the check above would pass for anything).
    expect(
      specifiers("import { x } from '../src/a.ts';\nexport * from 'node:fs';\nawait import('y');"),
    ).toEqual(['../src/a.ts', 'node:fs', 'y']);
  });

  it('loads in a plain Node process straight from the committed files', async () => {
    const { Tidings, TidingsError } = await import('tidings/client');
    expect(typeof Tidings).toBe('function');
    expect(new TidingsError('x', { status: 429, code: 'rate_limited' }).name).toBe('TidingsError');
  });

  it('has request types generated from the current TypeBox schemas (npm run client:types)', () => {
    expect(readFileSync(CLIENT_SCHEMAS_FILE, 'utf8')).toBe(renderClientSchemas());
  });
});
