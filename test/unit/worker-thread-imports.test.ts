import { build } from 'esbuild';
import { expect, it } from 'vitest';

// The worker thread loads its modules through tsx at every start (and every restart after a
// crash), where each file of a package costs ~1.5 ms: TypeBox's 700 files were ~1 s of it. The
// thread builds provider clients and renders templates; the schemas are the API's.
it('the worker thread loads no schema library (TypeBox) and no MJML', async () => {
  const result = await build({
    entryPoints: ['src/cli/worker-thread.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    packages: 'external',
    outfile: 'worker-thread.mjs',
    logLevel: 'silent',
  });
  const packages = new Set<string>();
  for (const input of Object.values(result.metafile.inputs))
    for (const imported of input.imports) if (imported.external) packages.add(imported.path.split('/')[0]!);
  expect([...packages].filter((name) => name === 'typebox' || name === 'mjml')).toEqual([]);
  // What it does load, so a new heavy dependency is a decision, not an accident.
  expect(packages.has('liquidjs')).toBe(true);
});
