import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/child.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * The configuration examples in the docs work: every `curl -X PUT|PATCH` of a workflow,
 * integration, device, preferences or settings in README.md and docs/ is sent, as written, to a
 * real server, which must accept it. Examples with placeholders (`…`) are left out.
 */

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(full);
    return entry.name.endsWith('.md') ? [full] : [];
  });
}

interface Example {
  where: string;
  method: string;
  route: string;
  body: string;
}

const CONFIGURING = /^\/v1\/(workflows|integrations|settings|subscribers\/[^/]+\/(preferences|devices))/;

function examples(): Example[] {
  const found: Example[] = [];
  for (const file of [path.join(REPO_ROOT, 'README.md'), ...markdownFiles(path.join(REPO_ROOT, 'docs'))]) {
    const text = readFileSync(file, 'utf8');
    const curl = /curl -s -X (PUT|PATCH) "?\$TIDINGS_URL(\/v1\/[^\s"]+)"?[^']*?-d '([^']*)'/g;
    for (const [, method, route, body] of text.matchAll(curl)) {
      if (!CONFIGURING.test(route!) || /…/.test(body!)) continue;
      found.push({ where: path.relative(REPO_ROOT, file), method: method!, route: route!, body: body! });
    }
  }
  return found;
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

describe('docs examples', () => {
  const all = examples();

  it('are found (the pattern still matches how the docs write them)', () => {
    expect(all.length).toBeGreaterThan(8);
  });

  it.each(all.map((e) => [`${e.where}: ${e.method} ${e.route}`, e]))('%s is accepted', async (_name, e) => {
    // The body is JSON as a shell passes it: single-quoted, so taken literally.
    const answer = await server.call(e.method, e.route, e.body);
    expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300);
  });
});
