/**
 * `npm run bench [-- --quick] [-- --only <scenario>]`: throughput and latency of a real Tidings
 * server (a child process on a fresh SQLite data dir per scenario). Prints a table and writes
 * bench/results/<timestamp>.json and bench/results/latest.json.
 */
import path from 'node:path';
import {
  machineInfo,
  passes,
  probeFsync,
  type Row,
  type ScenarioResult,
  table,
  writeResults,
} from './report.ts';
import {
  type BenchOptions,
  SCENARIOS,
  type ScenarioContext,
  SUBSCRIBERS,
  sendInlineEmails,
} from './scenarios.ts';
import { BenchServer, REPO_ROOT, useLocalizedWorkflow } from './server.ts';
import { fmt } from './stats.ts';

const USAGE = `usage: npm run bench -- [options]

  --quick          run every scenario briefly (smoke run, ~40 s)
  --only NAME[,NAME…]
                   run these scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}
                   (a prefix works too: "e2e" runs both e2e scenarios)
  --profile        write a CPU profile of each server to bench/results/profiles/<run>/
  --policy         run e2e-topic and e2e-bulk three times back to back: plain, with policy (a rate
                   limit that drops nothing, preferences for 1 recipient in 10, some opting out)
                   and with a limit that drops 20 %; prints each one's deliveries/s over plain's
  --inline-emails  every event names its recipient inline with an email ({"subscriberId", "email"}),
                   so ingest and deliveries pay for sealing personal data (compare with a run without)
  --localized      the bench workflow has three locales and an ICU plural, and recipients resolve to
                   one of them (compare with a run without)
  --known-subscribers
                   create the 10,000 subscribers events go to before each scenario, so deliveries
                   find them (default: the first event to each subscriber creates it)
  --keep           keep each server's data dir (database + server.log)
  --tmp DIR        where the data dirs go (default: the OS temp dir)
  --env NAME=VALUE a setting for every server, e.g. --env TIDINGS_WORKER_THREADS=2 (repeatable)`;

interface Args extends BenchOptions {
  only: string | null;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    quick: false,
    profileRoot: null,
    keep: false,
    only: null,
    knownSubscribers: false,
    inlineEmails: false,
    localized: false,
    serverEnv: {},
    policy: false,
  };
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n\n${USAGE}`);
      return v;
    };
    if (arg === '--quick') args.quick = true;
    else if (arg === '--only') args.only = value();
    else if (arg.startsWith('--only=')) args.only = arg.slice('--only='.length);
    else if (arg === '--profile')
      args.profileRoot = path.join(REPO_ROOT, 'bench', 'results', 'profiles', stamp);
    else if (arg === '--keep') args.keep = true;
    else if (arg === '--known-subscribers') args.knownSubscribers = true;
    else if (arg === '--inline-emails') args.inlineEmails = true;
    else if (arg === '--localized') args.localized = true;
    else if (arg === '--policy') args.policy = true;
    else if (arg === '--tmp') args.tmpRoot = path.resolve(value());
    else if (arg === '--env') {
      const [name, ...rest] = value().split('=');
      if (!name || rest.length === 0) throw new Error(`--env needs NAME=VALUE\n\n${USAGE}`);
      args.serverEnv[name] = rest.join('=');
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown option ${arg}\n\n${USAGE}`);
  }
  return args;
}

/** The scenarios `--only` names (comma-separated names or prefixes), in the bench's own order. */
function selected(only: string | null) {
  if (only === null) return SCENARIOS;
  const names = only
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!SCENARIOS.some((s) => s.name === name || s.name.startsWith(`${name}-`)))
      throw new Error(`no scenario "${name}"\n\n${USAGE}`);
  }
  return SCENARIOS.filter((s) => names.some((name) => s.name === name || s.name.startsWith(`${name}-`)));
}

/** How long `tidings start` may take to become healthy on a fresh data directory. */
const STARTUP_LIMIT_MS = 10_000;

async function runScenario(
  scenario: (typeof SCENARIOS)[number],
  options: BenchOptions,
  index: number,
  count: number,
): Promise<ScenarioResult> {
  const result: ScenarioResult = {
    name: scenario.name,
    description: scenario.description,
    rows: [],
    details: {},
    servers: [],
    elapsedMs: 0,
  };
  const started = performance.now();
  console.log(`\n[${index}/${count}] ${scenario.name}: ${scenario.description}`);
  const ctx: ScenarioContext = {
    options,
    async withServer(name, fn, env) {
      const server = await BenchServer.start({
        name,
        tmpRoot: options.tmpRoot,
        keep: options.keep,
        env: { ...env, ...options.serverEnv },
        profileDir: options.profileRoot ? path.join(options.profileRoot, name) : null,
      });
      console.log(`  server ${name} up in ${fmt(server.startMs)} ms at ${server.url} (${server.dbFile})`);
      // Spawn → healthy on a fresh data directory, the start-up a user waits for (limit 10 s).
      result.rows.push({
        scenario: scenario.name,
        metric: `${name}: spawn → healthy`,
        value: Math.round(server.startMs),
        unit: 'ms',
        target: { op: '<=', value: STARTUP_LIMIT_MS },
      });
      let outcome: Awaited<ReturnType<typeof fn>>;
      try {
        if (options.knownSubscribers) {
          await server.createSubscribers(SUBSCRIBERS);
          console.log(`  created subscribers user_0 … user_${SUBSCRIBERS - 1}`);
        }
        outcome = await fn(server);
      } finally {
        const report = await server.stop();
        result.servers.push({ name, startMs: Math.round(server.startMs), ...report });
        const problems = report.errors + report.warnings;
        console.log(
          `  server ${name} stopped (exit ${report.exitCode ?? report.signal})` +
            (problems ? `; log had ${report.errors} errors, ${report.warnings} warnings:` : ''),
        );
        for (const line of report.samples) console.log(`    ${line}`);
        if (report.dir) console.log(`  data kept in ${report.dir}`);
      }
      return outcome;
    },
    row(metric, value, unit, target, note) {
      const row: Row = { scenario: scenario.name, metric, value, unit };
      if (target) row.target = target;
      if (note) row.note = note;
      result.rows.push(row);
    },
    detail(key, value) {
      result.details[key] = value;
    },
    log(message) {
      console.log(`  ${message}`);
    },
  };
  try {
    await scenario.run(ctx);
  } catch (error) {
    result.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
    console.error(`  ${scenario.name} FAILED: ${result.error}`);
  }
  result.elapsedMs = Math.round(performance.now() - started);
  console.log(`  (${scenario.name} took ${fmt(result.elapsedMs / 1000, 1)} s)`);
  return result;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  sendInlineEmails(args.inlineEmails);
  useLocalizedWorkflow(args.localized);
  const scenarios = selected(args.only);
  const machine = machineInfo();
  const startedAt = new Date();
  const fsyncBefore = probeFsync(args.tmpRoot);
  const mode =
    `${args.quick ? ' (quick)' : ''}${args.knownSubscribers ? ' (known subscribers)' : ''}` +
    `${args.policy ? ' (policy)' : ''}${args.inlineEmails ? ' (inline emails)' : ''}${args.localized ? ' (localized workflow)' : ''}`;
  console.log(
    `Tidings bench${mode}: ${machine.cpuCount} × ${machine.cpuModel}, ` +
      `${machine.totalMemoryGiB} GiB, node ${machine.node}, kernel ${machine.kernel}`,
  );
  console.log(
    `disk: 4 KiB write + fsync p50 ${fmt(fsyncBefore.p50, 2)} ms, p99 ${fmt(fsyncBefore.p99, 2)} ms ` +
      '(every SQLite commit pays one; results move with it)',
  );
  const results: ScenarioResult[] = [];
  for (const [i, scenario] of scenarios.entries()) {
    results.push(await runScenario(scenario, args, i + 1, scenarios.length));
  }
  const elapsedMs = Date.now() - startedAt.getTime();
  const fsyncAfter = probeFsync(args.tmpRoot);

  console.log(`\nResults (${fmt(elapsedMs / 1000, 1)} s${args.quick ? ', quick run: short windows' : ''})\n`);
  console.log(table(results));
  console.log(
    `\ndisk fsync p50/p99: ${fmt(fsyncBefore.p50, 2)}/${fmt(fsyncBefore.p99, 2)} ms before, ` +
      `${fmt(fsyncAfter.p50, 2)}/${fmt(fsyncAfter.p99, 2)} ms after`,
  );
  const rows = results.flatMap((r) => r.rows);
  const misses = rows.filter((r) => passes(r) === false).length;
  const failed = results.filter((r) => r.error).length;
  const file = writeResults({
    startedAt: startedAt.toISOString(),
    elapsedMs,
    options: {
      quick: args.quick,
      only: args.only,
      profile: args.profileRoot !== null,
      knownSubscribers: args.knownSubscribers,
      policy: args.policy,
      inlineEmails: args.inlineEmails,
    },
    machine: { ...machine, fsyncMs: { before: fsyncBefore, after: fsyncAfter } },
    summary: { rows: rows.length, misses, failedScenarios: failed },
    rows: rows.map((row) => ({ ...row, pass: passes(row) })),
    scenarios: results,
  });
  console.log(
    `\n${misses} target(s) missed, ${failed} scenario(s) failed. Results: ${path.relative(REPO_ROOT, file)}`,
  );
  if (args.profileRoot) console.log(`CPU profiles: ${path.relative(REPO_ROOT, args.profileRoot)}`);
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();
