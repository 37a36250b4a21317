import { type ChildProcess, spawn } from 'node:child_process';
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  type WriteStream,
} from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Pool } from 'undici';
import { sleep } from './stats.ts';

/** The repository root: the server runs from here, like `npm start` would. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const API_KEY = 'tdk_bench_0123456789abcdefghijklmnop';
export const JSON_HEADERS = {
  'content-type': 'application/json',
  authorization: `Bearer ${API_KEY}`,
} as const;

export interface ServerOptions {
  /** Scenario name: used for the temp dir and the CPU profile folder. */
  name: string;
  /** Parent of the temp data dir (default: the OS temp dir). */
  tmpRoot?: string;
  /** When set, the child runs with `--cpu-prof` and writes its profile here on exit. */
  profileDir?: string | null;
  /** Keep the data dir (database, server log) after stopping. */
  keep?: boolean;
  /** Extra TIDINGS_* settings. */
  env?: Record<string, string>;
}

export interface StopReport {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Log lines at warn level or above (pino levels ≥ 40), the first few of them. */
  warnings: number;
  errors: number;
  samples: string[];
  dir: string | null;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** The environment of the child: ours without any TIDINGS_* of the caller's shell, plus the bench's. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('TIDINGS_') && name !== 'NODE_OPTIONS') env[name] = value;
  }
  return { ...env, ...extra };
}

/** One Tidings server (`node bin/tidings.mjs start`) in a child process on a fresh data dir. */
const BENCH_WORKFLOW = {
  channels: [{ channel: 'in_app', template: { title: 'Hi {{ data.n }}', body: 'Order {{ data.order }}' } }],
};

/**
 * The same message in three locales with an ICU plural: recipients (no locale of their own)
 * resolve to the default `es`, so every delivery takes the localized path — the step's `es`
 * overlay and a plural formatted by intl-messageformat (docs/templates.md).
 */
const LOCALIZED_BENCH_WORKFLOW = {
  defaultLocale: 'es',
  messages: {
    en: { items: '{count, plural, one {# item} other {# items}}' },
    es: { items: '{count, plural, one {# artículo} other {# artículos}}' },
    de: { items: '{count, plural, one {# Artikel} other {# Artikel}}' },
  },
  channels: [
    {
      channel: 'in_app',
      template: {
        title: 'Hi {{ data.n }}',
        body: 'Order {{ data.order }}: {{ "items" | t: count: data.n }}',
      },
      locales: {
        es: { title: 'Hola {{ data.n }}', body: 'Pedido {{ data.order }}: {{ "items" | t: count: data.n }}' },
        de: {
          title: 'Hallo {{ data.n }}',
          body: 'Bestellung {{ data.order }}: {{ "items" | t: count: data.n }}',
        },
      },
    },
  ],
};

let localizedWorkflow = false;

/** `--localized`: every server's `bench` workflow is LOCALIZED_BENCH_WORKFLOW. Set before the scenarios run. */
export function useLocalizedWorkflow(on: boolean): void {
  localizedWorkflow = on;
}

export class BenchServer {
  private reader: Database.Database | null = null;
  private counted = 0;
  private countedUpTo = 0;
  private countStatement: Database.Statement | null = null;
  private readonly pools = new Set<Pool>();

  readonly name: string;
  readonly url: string;
  readonly dir: string;
  readonly dbFile: string;
  /** Milliseconds from spawn to the first healthy /healthz. */
  startMs = 0;

  /** The server process's resident memory in bytes (Linux /proc), or null elsewhere. */
  rssBytes(): number | null {
    try {
      const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
      const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
      return kib === undefined ? null : Number(kib) * 1024;
    } catch {
      return null;
    }
  }
  /**
   * CPU time the server process has used so far, all threads, user and system, in ms (Linux
   * /proc; null elsewhere). On a shared machine throughput swings with the neighbours' load; the
   * CPU a run costs swings far less.
   */
  cpuMs(): number | null {
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Clock ticks of USER_HZ, which is 100 on Linux.
      return (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      return null;
    }
  }
  /**
   * CPU time per thread of the server process so far (ms, user and system, Linux /proc), by
   * thread id and name: which thread a run's CPU went to. Null where /proc cannot say.
   */
  threadCpuMs(): Map<string, number> | null {
    try {
      const threads = new Map<string, number>();
      for (const tid of readdirSync(`/proc/${this.child.pid}/task`)) {
        const stat = readFileSync(`/proc/${this.child.pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        threads.set(`${tid} ${name}`, (Number(fields[11]) + Number(fields[12])) * 10);
      }
      return threads;
    } catch {
      return null;
    }
  }
  private readonly child: ChildProcess;
  private readonly logFile: string;
  private readonly log: WriteStream;
  private readonly exited: Promise<void>;
  private readonly keep: boolean;

  private constructor(parts: {
    name: string;
    url: string;
    dir: string;
    dbFile: string;
    child: ChildProcess;
    logFile: string;
    log: WriteStream;
    exited: Promise<void>;
    keep: boolean;
  }) {
    this.name = parts.name;
    this.url = parts.url;
    this.dir = parts.dir;
    this.dbFile = parts.dbFile;
    this.child = parts.child;
    this.logFile = parts.logFile;
    this.log = parts.log;
    this.exited = parts.exited;
    this.keep = parts.keep;
  }

  static async start(options: ServerOptions): Promise<BenchServer> {
    const started = performance.now();
    const root = options.tmpRoot ?? os.tmpdir();
    mkdirSync(root, { recursive: true });
    const dir = mkdtempSync(path.join(root, `tidings-bench-${options.name}-`));
    const dbFile = path.join(dir, 'tidings.db');
    const port = await freePort();
    const env: Record<string, string> = {
      TIDINGS_DATABASE_URL: `sqlite:${dbFile}`,
      TIDINGS_DATA_DIR: dir,
      TIDINGS_PORT: String(port),
      TIDINGS_HOST: '127.0.0.1',
      TIDINGS_API_KEY: API_KEY,
      TIDINGS_LOG_LEVEL: 'warn',
      ...options.env,
    };
    const nodeArgs: string[] = [];
    if (options.profileDir) {
      mkdirSync(options.profileDir, { recursive: true });
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
    }
    const logFile = path.join(dir, 'server.log');
    const log = createWriteStream(logFile);
    const child = spawn(process.execPath, [...nodeArgs, path.join('bin', 'tidings.mjs'), 'start'], {
      cwd: REPO_ROOT,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    track(child);
    const server = new BenchServer({
      name: options.name,
      url: `http://127.0.0.1:${port}`,
      dir,
      dbFile,
      child,
      logFile,
      log,
      exited: new Promise<void>((resolve) => child.once('exit', () => resolve())),
      keep: options.keep ?? false,
    });
    try {
      await server.waitHealthy(30_000);
      server.startMs = performance.now() - started;
      await server.createBenchWorkflow();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  private logTail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const pool = this.pool(1);
    try {
      while (Date.now() < deadline) {
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          throw new Error(`server exited during start-up (code ${this.child.exitCode}):\n${this.logTail()}`);
        }
        try {
          const res = await pool.request({ path: '/healthz', method: 'GET' });
          await res.body.dump();
          if (res.statusCode === 200) return;
        } catch {
          // Not listening yet.
        }
        await sleep(50);
      }
      throw new Error(`server not healthy after ${timeoutMs} ms:\n${this.logTail()}`);
    } finally {
      await this.closePool(pool);
    }
  }

  /** A connection pool to this server; closed with the server. `pipelining` 1 = one request per connection. */
  pool(connections: number, pipelining = 1): Pool {
    const pool = new Pool(this.url, {
      connections,
      pipelining,
      keepAliveTimeout: 60_000,
      headersTimeout: 120_000,
      bodyTimeout: 120_000,
    });
    this.pools.add(pool);
    return pool;
  }

  async closePool(pool: Pool): Promise<void> {
    this.pools.delete(pool);
    await pool.close().catch(() => pool.destroy());
  }

  /** One API call with the bench key; throws (with the answer) unless the status is 2xx. */
  async api<T = unknown>(
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    route: string,
    body?: unknown,
  ): Promise<T> {
    const pool = this.pool(1);
    try {
      const res = await pool.request({
        path: route,
        method,
        headers: body === undefined ? { authorization: JSON_HEADERS.authorization } : JSON_HEADERS,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.body.text();
      if (res.statusCode >= 300)
        throw new Error(`${method} ${route} → ${res.statusCode}: ${text.slice(0, 500)}`);
      return (text ? JSON.parse(text) : null) as T;
    } finally {
      await this.closePool(pool);
    }
  }

  private async createBenchWorkflow(): Promise<void> {
    await this.api(
      'PUT',
      '/v1/workflows/bench',
      localizedWorkflow ? LOCALIZED_BENCH_WORKFLOW : BENCH_WORKFLOW,
    );
  }

  /**
   * Creates subscribers `${prefix}0` … `${prefix}${count - 1}` (through a topic, 10,000 per call: the
   * API's cheapest way to create many), so later deliveries find them instead of creating them.
   */
  async createSubscribers(count: number, prefix = 'user_', topic = 'bench-seed'): Promise<void> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(`${prefix}${i}`);
    await this.addTopicMembers(topic, ids);
  }

  /** Adds `ids` to `topic` (created if need be), 10,000 per call; unknown ids become subscribers. */
  async addTopicMembers(topic: string, ids: readonly string[]): Promise<void> {
    await this.api('PUT', `/v1/topics/${topic}`, {});
    for (let first = 0; first < ids.length; first += 10_000) {
      await this.api('POST', `/v1/topics/${topic}/subscribers`, {
        subscriberIds: ids.slice(first, first + 10_000),
      });
    }
  }

  /** The server's SQLite file, opened read-only in this process (WAL readers never block the writer). */
  db(): Database.Database {
    this.reader ??= new Database(this.dbFile, { readonly: true, fileMustExist: true });
    return this.reader;
  }

  /**
   * Inbox rows written so far. Counts only the rows added since the last call (by rowid), so
   * polling costs the server's machine little while a 100k-row run is measured.
   */
  inAppCount(): number {
    this.countStatement ??= this.db().prepare(
      `SELECT COUNT(*) AS n, MAX(rowid) AS last FROM messages WHERE rowid > ? AND channel = 'in_app'`,
    );
    const { n, last } = this.countStatement.get(this.countedUpTo) as { n: number; last: number | null };
    if (last !== null) this.countedUpTo = last;
    this.counted += n;
    return this.counted;
  }

  /** Jobs still in the queue, by state. */
  jobCounts(): Record<string, number> {
    const rows = this.db().prepare('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state').all() as {
      state: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /** Stops the server gracefully (SIGTERM, then SIGKILL after `graceMs`) and removes its data dir. */
  async stop(graceMs = 15_000): Promise<StopReport> {
    for (const pool of [...this.pools]) await this.closePool(pool);
    this.reader?.close();
    this.reader = null;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.log.end(resolve));
    const report = scanLog(this.logFile);
    if (!this.keep) rmSync(this.dir, { recursive: true, force: true });
    return {
      exitCode: this.child.exitCode,
      signal: this.child.signalCode,
      ...report,
      dir: this.keep ? this.dir : null,
    };
  }
}

function scanLog(file: string): { warnings: number; errors: number; samples: string[] } {
  let warnings = 0;
  let errors = 0;
  const samples: string[] = [];
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { warnings, errors, samples };
  }
  for (const line of text.split('\n')) {
    const match = /"level":(\d+)/.exec(line);
    if (!match) continue;
    const level = Number(match[1]);
    if (level >= 50) errors++;
    else if (level >= 40) warnings++;
    else continue;
    if (samples.length < 5) samples.push(line.slice(0, 400));
  }
  return { warnings, errors, samples };
}

// Never leave a server behind when the bench itself dies.
const children = new Set<ChildProcess>();
/** Kills `child` should the bench itself exit or be interrupted. */
export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(130);
  });
}
