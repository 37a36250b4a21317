import { execFile, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './child.ts';

/**
 * A throwaway PostgreSQL cluster of this test process's own (initdb + pg_ctl on a free port at
 * 127.0.0.1, trust auth, its socket in its own temporary directory), for tests that stop and
 * restart the server. It never touches the machine's shared server.
 *
 * PostgreSQL refuses to run as root: as root, every binary runs as the `postgres` OS user via
 * `runuser`, on a temporary directory chowned to that user.
 *
 * Removal is guaranteed three ways: `cleanup()` (call it from afterAll/afterEach), a
 * process 'exit' hook, and a small detached watchdog shell that stops the server and removes the
 * directory if this process dies without either (SIGKILL, say).
 *
 * @example
 * const cluster = await startPgCluster();
 * const url = await cluster.createDatabase('tidings');
 * await cluster.restart({ mode: 'immediate', downMs: 1_000 });
 * await cluster.cleanup();
 */

const run = promisify(execFile);

export type StopMode = 'smart' | 'fast' | 'immediate';

export interface PgCluster {
  port: number;
  /** The temporary directory: data in `data/`, the server log in `server.log`, the socket here. */
  dir: string;
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  /** Creates `name` (via the `postgres` database) and answers its URL. */
  createDatabase(name: string): Promise<string>;
  /** Starts the server and waits until it accepts connections. */
  start(): Promise<void>;
  /** `pg_ctl stop -m <mode>` (default fast), waiting until the server is gone. */
  stop(options?: { mode?: StopMode }): Promise<void>;
  /** stop, stay down `downMs` (default 0), start. */
  restart(options?: { mode?: StopMode; downMs?: number }): Promise<void>;
  /** Whether a server runs on the data directory (`pg_ctl status`). */
  running(): Promise<boolean>;
  /** The server log so far (for failure messages). */
  log(): string;
  /** Stops the server (immediate) and removes the directory; safe to call more than once. */
  cleanup(): Promise<void>;
}

/** The newest installed PostgreSQL's bin directory (/usr/lib/postgresql/<version>/bin), or null. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((name) => existsSync(path.join(root, name, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? path.join(root, versions[0]!, 'bin') : null;
}

const asRoot = process.getuid?.() === 0;

/** argv for running `binary` as the user that owns the cluster. */
function asOwner(bin: string, binary: string, args: string[]): [string, string[]] {
  const file = path.join(bin, binary);
  return asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
}

const live = new Set<PgCluster>();
process.once('exit', () => {
  // Synchronous last resort: 'exit' handlers cannot wait for promises.
  for (const cluster of live) stopSync(cluster.dir);
});

let binDirForExit: string | null = null;
function stopSync(dir: string): void {
  if (binDirForExit) {
    const [file, args] = asOwner(binDirForExit, 'pg_ctl', [
      '-D',
      path.join(dir, 'data'),
      '-m',
      'immediate',
      'stop',
    ]);
    spawnSync(file, args, { cwd: dir, stdio: 'ignore', timeout: 10_000 });
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Initialises a new cluster in a temporary directory and starts it on a free port. */
export async function startPgCluster(): Promise<PgCluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
  binDirForExit = bin;
  const dir = mkdtempSync(path.join(tmpdir(), 'tidings-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  if (asRoot) {
    const owner = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    const group = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    if (!owner || !group) throw new Error('running as root but there is no `postgres` OS user');
    chownSync(dir, Number(owner), Number(group));
  }
  // cwd = the cluster's directory: the postgres user may not be allowed into the repository.
  const exec = (binary: string, args: string[], timeout = 60_000) => {
    const [file, argv] = asOwner(bin, binary, args);
    return run(file, argv, { cwd: dir, timeout });
  };

  let port = 0;
  const cluster: PgCluster = {
    get port() {
      return port;
    },
    dir,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async createDatabase(name) {
      await exec('psql', [
        '-X',
        '-q',
        '-h',
        dir,
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        'postgres',
        '-c',
        `CREATE DATABASE ${name}`,
      ]);
      return cluster.url(name);
    },
    async start() {
      // -w waits until the server accepts connections; -o passes server options.
      const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir}`;
      await exec('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', '-o', options, 'start']);
    },
    async stop({ mode = 'fast' } = {}) {
      await exec('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
    },
    async restart({ mode = 'fast', downMs = 0 } = {}) {
      await cluster.stop({ mode });
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await cluster.start();
    },
    async running() {
      // pg_ctl status exits 3 when no server runs.
      return exec('pg_ctl', ['-D', data, 'status']).then(
        () => true,
        () => false,
      );
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    async cleanup() {
      if (!live.delete(cluster)) return;
      watchdog.kill('SIGKILL');
      if (await cluster.running()) await cluster.stop({ mode: 'immediate' }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };

  live.add(cluster);
  // Stops the server and removes the directory once this process is gone, however it went.
  const [stopFile, stopArgs] = asOwner(bin, 'pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
  const watchdog = spawn(
    'sh',
    [
      '-c',
      'while kill -0 "$1" 2>/dev/null; do sleep 1; done; shift; "$@" >/dev/null 2>&1; rm -rf "$DIR"',
      'pg-watchdog',
      String(process.pid),
      stopFile,
      ...stopArgs,
    ],
    { cwd: dir, env: { PATH: process.env.PATH, DIR: dir }, detached: true, stdio: 'ignore' },
  );
  watchdog.unref();

  try {
    await exec('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-instructions']);
    // Someone may take the port between freePort() and the server's bind: try another.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await cluster.start();
        break;
      } catch (error) {
        if (attempt >= 3 || !/could not bind|Address already in use/.test(cluster.log())) throw error;
      }
    }
  } catch (error) {
    const log = cluster.log();
    await cluster.cleanup();
    throw new Error(`could not start a private PostgreSQL cluster: ${(error as Error).message}\n${log}`);
  }
  return cluster;
}
