/**
 * Summarises V8 CPU profiles (`--cpu-prof`, as `npm run bench -- --profile` writes them):
 * where the time went, by function (self time) and by file.
 *
 *   node ./bin/run-ts.mjs bench/profile-summary.ts <profile file or folder> [--top N] [--from S] [--to S]
 *
 * `--from`/`--to` keep only the samples taken that many seconds after the profile started (e.g.
 * the part of a run after ingest finished, when only the workers were busy).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fmt } from './stats.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function profilesIn(target: string): string[] {
  if (!statSync(target).isDirectory()) return [target];
  return readdirSync(target)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(target, f));
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const clean = url.replace(/^file:\/\//, '').replace(/\?.*$/, '');
  const nm = clean.lastIndexOf('node_modules/');
  if (nm >= 0) return clean.slice(nm + 'node_modules/'.length);
  const src = clean.indexOf('/src/');
  return src >= 0 ? clean.slice(src + 1) : clean;
}

/** Self time (µs) per function and per file, plus inclusive time for src/ functions. */
export function summarise(profile: CpuProfile, fromUs = 0, toUs = Number.POSITIVE_INFINITY) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<number, number>();
  let at = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at >= fromUs && at <= toUs) self.set(id, (self.get(id) ?? 0) + delta);
  });
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    total += us;
    const file = shortUrl(node.callFrame.url);
    const fn = `${node.callFrame.functionName || '(anonymous)'}  ${file}:${node.callFrame.lineNumber + 1}`;
    fnSelf.set(fn, (fnSelf.get(fn) ?? 0) + us);
    fileSelf.set(file, (fileSelf.get(file) ?? 0) + us);
    // Inclusive time of every src/ function on the stack (counted once per stack).
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (!frame.url.includes('/src/')) continue;
      const key = `${frame.functionName || '(anonymous)'}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  return {
    total,
    fnSelf,
    fileSelf,
    inclusive,
    wallUs: Math.min(toUs, profile.endTime - profile.startTime) - fromUs,
  };
}

function top(map: Map<string, number>, total: number, n: number): string[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([name, us]) =>
        `  ${fmt(us / 1000).padStart(8)} ms ${fmt((us / total) * 100, 1).padStart(5)}%  ${name}`,
    );
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, from: { type: 'string' }, to: { type: 'string' } },
});
const [target] = positionals;
if (!target) {
  console.error('usage: profile-summary.ts <profile file or folder> [--top N] [--from S] [--to S]');
  process.exit(2);
}
const n = Number(values.top);
const fromUs = values.from === undefined ? 0 : Number(values.from) * 1e6;
const toUs = values.to === undefined ? Number.POSITIVE_INFINITY : Number(values.to) * 1e6;
for (const file of profilesIn(target)) {
  const s = summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, fromUs, toUs);
  console.log(`\n${file}: ${fmt(s.wallUs / 1000)} ms profiled, ${fmt(s.total / 1000)} ms sampled`);
  console.log('\nself time by function:');
  console.log(top(s.fnSelf, s.total, n).join('\n'));
  console.log('\nself time by file:');
  console.log(top(s.fileSelf, s.total, Math.min(n, 15)).join('\n'));
  console.log('\ninclusive time of src/ functions:');
  console.log(top(s.inclusive, s.total, n).join('\n'));
}
