import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/child.ts';

/** The docs hold together: links resolve inside the repository, the index lists every page. */

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(full);
    return entry.name.endsWith('.md') ? [full] : [];
  });
}

const DOCS = path.join(REPO_ROOT, 'docs');
const PAGES = [path.join(REPO_ROOT, 'README.md'), ...markdownFiles(DOCS)];

/** Relative link targets of a Markdown file (outside code blocks), without their #anchors. */
function relativeLinks(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((target) => !/^[a-z]+:/i.test(target) && !target.startsWith('#'))
    .map((target) => target.split('#')[0]!);
}

describe('docs', () => {
  it.each(PAGES.map((file) => [path.relative(REPO_ROOT, file), file]))(
    '%s links only to files that exist inside the repository',
    (_name, file) => {
      for (const target of relativeLinks(file)) {
        const resolved = path.resolve(path.dirname(file), target);
        expect(resolved.startsWith(`${REPO_ROOT}${path.sep}`), `${target} leaves the repository`).toBe(true);
        expect(existsSync(resolved), `${target} does not exist`).toBe(true);
      }
    },
  );

  it('the index links every page of docs/', () => {
    const index = path.join(DOCS, 'README.md');
    const linked = new Set(relativeLinks(index).map((target) => path.resolve(DOCS, target)));
    const pages = markdownFiles(DOCS).filter((file) => file !== index);
    expect(pages.filter((file) => !linked.has(file)).map((file) => path.relative(DOCS, file))).toEqual([]);
  });

  it("operations.md documents every variable of the README's configuration table", () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const operations = readFileSync(path.join(DOCS, 'operations.md'), 'utf8');
    const variables = new Set(
      readme
        .split('\n')
        .filter((line) => line.startsWith('| `TIDINGS_'))
        .flatMap((line) => line.split('|')[1]!.match(/TIDINGS_[A-Z_]+/g) ?? []),
    );
    expect(variables.size).toBeGreaterThan(10);
    expect([...variables].filter((variable) => !operations.includes(variable))).toEqual([]);
  });
});
