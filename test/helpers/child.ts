import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the CLI runs from here, like `npm start` would). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join('bin', 'tidings.mjs');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningChild {
  /** Base URL of the API, e.g. `http://127.0.0.1:40123`. */
  url: string;
  port: number;
  proc: ChildProcess;
  /** Everything the child wrote to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Sends `signal` (default SIGKILL) if the child is still running. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the exit code (null when a signal ended it) once the child has exited. */
  exited: Promise<number | null>;
  /** Milliseconds from spawn to the first healthy /healthz answer. */
  healthyAfterMs: number;
}

interface Tracked {
  proc: ChildProcess;
  exited: Promise<unknown>;
}

const live = new Set<Tracked>();
const tempDirs = new Set<string>();

// Last resort when the test process itself goes away: never leave a server behind.
process.once('exit', () => {
  for (const { proc } of live) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
});

/**
 * The master secret children on PostgreSQL get unless a test names its own TIDINGS_SECRET (or
 * passes it as undefined to start without one): every process sharing a database needs the same.
 */
export const POSTGRES_TEST_SECRET = 'tidings-test-master-secret-0123456789';

/**
 * The child's environment: this process's, minus any TIDINGS_* setting of the developer's shell
 * (so tests only see what they set), plus `env`. `CI` and the rest pass through.
 */
function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('TIDINGS_')) merged[name] = value;
  }
  if (/^postgres(ql)?:/.test(env.TIDINGS_DATABASE_URL ?? '') && !('TIDINGS_SECRET' in env))
    merged.TIDINGS_SECRET = POSTGRES_TEST_SECRET;
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete merged[name];
    else merged[name] = value;
  }
  return merged;
}

export interface Spawned {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

function spawnCli(args: string[], env: Record<string, string | undefined>): Spawned {
  const proc = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    proc.once('error', reject);
    // 'close' (not 'exit') so the captured output is complete.
    proc.once('close', (code) => resolve(code));
  });
  const tracked: Tracked = { proc, exited: exited.catch(() => undefined) };
  live.add(tracked);
  void tracked.exited.then(() => live.delete(tracked));
  return { proc, stdout: () => out, stderr: () => err, exited };
}

/** Spawns `tidings <args>` without waiting for it to become healthy (tracked for cleanup like the rest). */
export function spawnTidings(args: string[], env: Record<string, string | undefined>): Spawned {
  return spawnCli(args, env);
}

/** A TCP port that was free a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** A fresh temporary directory, removed by {@link cleanupChildren}. */
export function tempDataDir(prefix = 'tidings-cli-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** The environment for an embedded SQLite database under `dataDir`. */
export function sqliteEnv(dataDir: string): Record<string, string> {
  return {
    TIDINGS_DATABASE_URL: `sqlite:${path.join(dataDir, 'tidings.db')}`,
    TIDINGS_DATA_DIR: dataDir,
  };
}

/** Polls `${url}/healthz` until it answers 200 (throws after `timeoutMs`). */
export async function waitForHealthy(
  url: string,
  timeoutMs: number,
  exited?: Promise<unknown>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited?.then(() => {
    gone = true;
  });
  for (;;) {
    if (gone) throw new Error('the process exited before it became healthy');
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url}/healthz not healthy within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Runs a short CLI command to completion (killed after `timeoutMs`). */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 20_000,
): Promise<CliResult> {
  const child = spawnCli(args, env);
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), timeoutMs);
  try {
    const code = await child.exited;
    return { code, signal: child.proc.signalCode, stdout: child.stdout(), stderr: child.stderr() };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Spawns `tidings <args>` (default `start`) on a free port at 127.0.0.1 and waits until
 * /healthz answers. Rejects (with the child's output) if it exits or is not healthy in time.
 */
export async function startChild(
  env: Record<string, string | undefined> = {},
  options: { args?: string[]; healthyWithinMs?: number; portVariable?: string } = {},
): Promise<RunningChild> {
  const { args = ['start'], healthyWithinMs = 45_000, portVariable = 'TIDINGS_PORT' } = options;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const startedAt = Date.now();
    const child = spawnCli(args, { TIDINGS_HOST: '127.0.0.1', ...env, [portVariable]: String(port) });
    try {
      await waitForHealthy(url, healthyWithinMs, child.exited);
    } catch (error) {
      child.proc.kill('SIGKILL');
      await child.exited.catch(() => undefined);
      // Someone else took the port between freePort() and listen(): try another.
      if (attempt < 3 && /EADDRINUSE/.test(child.stdout() + child.stderr())) continue;
      throw new Error(
        `tidings ${args.join(' ')} did not become healthy: ${(error as Error).message}\n` +
          `--- stdout ---\n${child.stdout()}\n--- stderr ---\n${child.stderr()}`,
      );
    }
    const healthyAfterMs = Date.now() - startedAt;
    return {
      url,
      port,
      proc: child.proc,
      stdout: child.stdout,
      stderr: child.stderr,
      exited: child.exited,
      healthyAfterMs,
      kill(signal: NodeJS.Signals = 'SIGKILL') {
        if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill(signal);
      },
    };
  }
}

/**
 * Kills every child still running (SIGKILL), waits for them to exit and removes the temporary
 * directories. Call it from afterEach/afterAll so a failing test never leaves a server behind.
 */
export async function cleanupChildren(): Promise<void> {
  const running = [...live];
  for (const { proc } of running) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
  await Promise.all(running.map((t) => t.exited));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** fetch + JSON, with `Authorization: Bearer <auth>` when given. */
export async function callJson(
  url: string,
  method: string,
  auth: string | null,
  body?: unknown,
): Promise<{
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
  body: any;
}> {
  const headers: Record<string, string> = {};
  if (auth !== null) headers.authorization = `Bearer ${auth}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed };
}
