import {
  closeSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, type StopReport } from './server.ts';
import { fmt, round, summarize } from './stats.ts';

export interface Target {
  op: '>=' | '<=' | '==';
  value: number;
}

/** One line of the result table. */
export interface Row {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  target?: Target;
  note?: string;
}

export interface ScenarioResult {
  name: string;
  description: string;
  rows: Row[];
  /** Raw numbers behind the rows (latency summaries, counts, settings). */
  details: Record<string, unknown>;
  servers: (StopReport & { name: string; startMs: number })[];
  error?: string;
  elapsedMs: number;
}

export function passes(row: Row): boolean | null {
  if (!row.target) return null;
  const { op, value } = row.target;
  if (!Number.isFinite(row.value)) return false;
  if (op === '>=') return row.value >= value;
  if (op === '<=') return row.value <= value;
  return row.value === value;
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    totalMemoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    loadAvgAtStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

/**
 * How long this disk takes to make a 4 KiB write durable (write + fsync, 100 times): SQLite with
 * synchronous=FULL pays this on every commit, and on shared virtual disks it drifts a lot, so
 * every run records it next to its numbers.
 */
export function probeFsync(root = os.tmpdir()): { p50: number; p99: number; max: number } {
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(path.join(root, 'tidings-bench-fsync-'));
  const fd = openSync(path.join(dir, 'probe'), 'w');
  const block = Buffer.alloc(4096, 7);
  const times: number[] = [];
  try {
    for (let i = 0; i < 100; i++) {
      const start = performance.now();
      writeSync(fd, block, 0, block.length, (i % 16) * block.length);
      fsyncSync(fd);
      times.push(performance.now() - start);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  const s = summarize(times);
  return { p50: round(s.p50, 3), p99: round(s.p99, 3), max: round(s.max, 3) };
}

function shown(row: Row): string {
  const digits = row.unit === 'ms' ? 2 : row.unit.endsWith('/s') ? 0 : 2;
  return `${fmt(row.value, digits)} ${row.unit}`.trim();
}

function targetText(target: Target | undefined, unit: string): string {
  if (!target) return '';
  const op = target.op === '>=' ? '≥' : target.op === '<=' ? '≤' : '=';
  // Up to 2 decimals, so a ratio target of 1.5 is not shown as 2.
  return `${op} ${fmt(target.value, 2)} ${unit}`.trim();
}

/** The result table, as text. */
export function table(results: ScenarioResult[]): string {
  const header = ['scenario', 'metric', 'value', 'target', 'result'];
  const lines: string[][] = [];
  for (const result of results) {
    if (result.error)
      lines.push([result.name, 'error', result.error.split('\n')[0]!.slice(0, 80), '', 'FAIL']);
    for (const row of result.rows) {
      const pass = passes(row);
      lines.push([
        row.scenario,
        row.metric + (row.note ? ` (${row.note})` : ''),
        shown(row),
        targetText(row.target, row.unit),
        pass === null ? '' : pass ? 'PASS' : 'MISS',
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const render = (cells: string[]) =>
    cells.map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [render(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(render)].join('\n');
}

/** Writes `bench/results/<timestamp>.json` and `bench/results/latest.json`; answers the first path. */
export function writeResults(document: Record<string, unknown>): string {
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = path.join(dir, `${stamp}.json`);
  const text = `${JSON.stringify(document, null, 2)}\n`;
  writeFileSync(file, text);
  writeFileSync(path.join(dir, 'latest.json'), text);
  return file;
}
