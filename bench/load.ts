import { fmt, Samples, type Summary, sleep, summarize } from './stats.ts';

/** What one request achieved. */
export interface Outcome {
  status: number;
  /** Events accepted by this request (1 for a single event, up to 1000 for a bulk body). */
  units: number;
  /** Events the server answered with an error inside an otherwise successful (bulk) answer. */
  rejected?: number;
  /** Error code or the start of an unexpected body. */
  note?: string;
}

export interface LoadResult {
  /** Length of the measured window in ms (warm-up excluded). */
  windowMs: number;
  /** Requests answered with the expected status inside the window. */
  requests: number;
  /** Events accepted inside the window. */
  units: number;
  rejectedUnits: number;
  /** Latency (ms) of the requests answered with the expected status inside the window. */
  latency: Summary;
  /** Everything else, by status (or `error:<code>` when no answer came). */
  unexpected: Record<string, number>;
  samples: string[];
}

function errorNote(error: unknown): string {
  const code = (error as { code?: string }).code;
  return code ?? (error instanceof Error ? error.message : String(error));
}

async function attempt(send: (i: number) => Promise<Outcome>, i: number): Promise<Outcome> {
  try {
    return await send(i);
  } catch (error) {
    return { status: 0, units: 0, note: errorNote(error) };
  }
}

function recordUnexpected(outcome: Outcome, unexpected: Record<string, number>, samples: string[]): void {
  const key = outcome.status === 0 ? `error:${outcome.note}` : String(outcome.status);
  unexpected[key] = (unexpected[key] ?? 0) + 1;
  if (samples.length < 5) samples.push(`${key} ${outcome.note ?? ''}`.trim().slice(0, 300));
}

/**
 * Closed loop: `concurrency` clients, each sending its next request as soon as the previous
 * one is answered, for `warmupMs + durationMs`. Only answers that arrive inside the measured
 * window (after the warm-up) are counted.
 */
export async function closedLoop(options: {
  label: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  expectStatus: number;
  unit: string;
  send: (i: number) => Promise<Outcome>;
}): Promise<LoadResult> {
  const { concurrency, warmupMs, durationMs, expectStatus, send } = options;
  const t0 = performance.now();
  const windowStart = t0 + warmupMs;
  const end = windowStart + durationMs;
  const latencies = new Samples();
  const unexpected: Record<string, number> = {};
  const samples: string[] = [];
  let requests = 0;
  let units = 0;
  let rejectedUnits = 0;
  let next = 0;
  let lastUnits = 0;
  let lastAt = windowStart;

  const progress = setInterval(() => {
    const now = performance.now();
    if (now < windowStart + 100) {
      console.log(`    ${options.label}: warming up (${fmt((now - t0) / 1000, 1)} s)`);
      return;
    }
    const secs = (now - windowStart) / 1000;
    const recent = ((units - lastUnits) * 1000) / (now - lastAt);
    lastUnits = units;
    lastAt = now;
    const bad = Object.values(unexpected).reduce((a, b) => a + b, 0);
    console.log(
      `    ${options.label}: ${fmt(secs, 1)} s  ${fmt(units)} ${options.unit} accepted ` +
        `(${fmt(units / secs)}/s overall, ${fmt(recent)}/s lately)${bad ? `, ${fmt(bad)} unexpected answers` : ''}`,
    );
  }, 2_000);

  async function client(): Promise<void> {
    for (;;) {
      const begin = performance.now();
      if (begin >= end) return;
      const outcome = await attempt(send, next++);
      const done = performance.now();
      if (outcome.status === 0) await sleep(10); // connection trouble: do not spin
      if (done < windowStart || done > end) continue;
      if (outcome.status === expectStatus) {
        requests++;
        units += outcome.units;
        rejectedUnits += outcome.rejected ?? 0;
        latencies.push(done - begin);
      } else {
        recordUnexpected(outcome, unexpected, samples);
      }
    }
  }

  try {
    await Promise.all(Array.from({ length: concurrency }, client));
  } finally {
    clearInterval(progress);
  }
  return {
    windowMs: durationMs,
    requests,
    units,
    rejectedUnits,
    latency: summarize(latencies.values()),
    unexpected,
    samples,
  };
}

export interface OpenLoopResult {
  /** Requests sent in the measured window, and how many got the expected status. */
  sent: number;
  ok: number;
  /** Sent per second in the measured window (what the schedule achieved). */
  rate: number;
  /** Per request: answer time − *scheduled* send time, so a stalled server cannot hide (ms). */
  latency: Summary;
  unexpected: Record<string, number>;
  samples: string[];
  maxInFlight: number;
  /** Most a send fell behind its schedule (ms): large values mean the bench itself lagged. */
  maxLagMs: number;
}

/**
 * Open loop: requests leave on a fixed schedule (`rate` per second) whether or not earlier
 * ones were answered. `send(i, measured)` is told whether request `i` is in the measured window.
 * An aborted `signal` ends the schedule early (for loads that run until something else is done);
 * the requests already sent are still awaited.
 */
export async function openLoop(options: {
  label: string;
  rate: number;
  warmupMs: number;
  durationMs: number;
  expectStatus: number;
  send: (i: number, measured: boolean) => Promise<Outcome>;
  signal?: AbortSignal;
}): Promise<OpenLoopResult> {
  const { rate, warmupMs, durationMs, expectStatus, send, signal } = options;
  const interval = 1000 / rate;
  const warmupCount = Math.round((warmupMs / 1000) * rate);
  const total = warmupCount + Math.round((durationMs / 1000) * rate);
  const latencies = new Samples();
  const unexpected: Record<string, number> = {};
  const samples: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let ok = 0;
  let maxInFlight = 0;
  let maxLagMs = 0;
  let next = 0;
  let firstMeasured = 0;
  let lastMeasured = 0;
  const t0 = performance.now();

  const progress = setInterval(() => {
    const secs = (performance.now() - t0) / 1000;
    const phase = next < warmupCount ? 'warming up' : 'measuring';
    console.log(
      `    ${options.label}: ${fmt(secs, 1)} s ${phase}, ${fmt(next)} sent, ${fmt(ok)} accepted, ${inFlight.size} in flight`,
    );
  }, 3_000);

  function fire(i: number): void {
    const scheduled = t0 + i * interval;
    const measured = i >= warmupCount;
    const now = performance.now();
    maxLagMs = Math.max(maxLagMs, now - scheduled);
    if (measured) {
      if (sent === 0) firstMeasured = now;
      lastMeasured = now;
      sent++;
    }
    const task = attempt((n) => send(n, measured), i).then((outcome) => {
      if (!measured) return;
      if (outcome.status === expectStatus) {
        ok++;
        latencies.push(performance.now() - scheduled);
      } else {
        recordUnexpected(outcome, unexpected, samples);
      }
    });
    const tracked = task.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    maxInFlight = Math.max(maxInFlight, inFlight.size);
  }

  try {
    while (next < total && !signal?.aborted) {
      const due = Math.min(total, Math.floor((performance.now() - t0) / interval) + 1);
      while (next < due) fire(next++);
      if (next < total) await sleep(Math.max(0, t0 + next * interval - performance.now()));
    }
    await Promise.all([...inFlight]);
  } finally {
    clearInterval(progress);
  }
  return {
    sent,
    ok,
    rate: sent > 1 ? ((sent - 1) * 1000) / (lastMeasured - firstMeasured) : 0,
    latency: summarize(latencies.values()),
    unexpected,
    samples,
    maxInFlight,
    maxLagMs,
  };
}
