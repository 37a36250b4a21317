/**
 * Pools the samples of several `--only priority` runs (their JSON results, given as arguments)
 * and prints each side's percentiles and the ratio of the pooled p99s: one run's p99 is the 3rd
 * worst of ~250 samples during the broadcast, so single runs swing widely on a busy machine.
 *
 *   node ./bin/run-ts.mjs bench/pool-priority.ts bench/results/A.json bench/results/B.json …
 */
import { readFileSync } from 'node:fs';
import { summarize } from './stats.ts';

interface PriorityDetail {
  result?: { samplesMs?: { alone: number[]; duringBroadcast: number[] } };
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: pool-priority.ts <result.json>…');
  process.exit(2);
}
const alone: number[] = [];
const during: number[] = [];
for (const file of files) {
  const json = JSON.parse(readFileSync(file, 'utf8')) as {
    scenarios: { name: string; details?: PriorityDetail }[];
  };
  const samples = json.scenarios.find((s) => s.name === 'priority')?.details?.result?.samplesMs;
  if (!samples) {
    console.error(`${file}: no priority samples (a run from before they were recorded?)`);
    process.exit(1);
  }
  alone.push(...samples.alone);
  during.push(...samples.duringBroadcast);
}
const a = summarize(alone);
const b = summarize(during);
const line = (name: string, s: typeof a) =>
  `${name}: n=${s.count} p50 ${s.p50} p95 ${s.p95} p99 ${s.p99} max ${s.max} ms`;
console.log(`${files.length} runs pooled`);
console.log(line('(a) alone', a));
console.log(line('(b) during broadcast', b));
console.log(`p99 ratio ${(b.p99 / a.p99).toFixed(2)} ×, p50 ratio ${(b.p50 / a.p50).toFixed(2)} ×`);
