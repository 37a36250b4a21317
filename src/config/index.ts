import { isIP } from 'node:net';
import path from 'node:path';
import { AllowListError, parseAllowList } from '../security/outbound/allow-list.ts';
import { parseDuration } from '../shared/time.ts';

/** Where the store lives: the embedded SQLite file (or memory), or a PostgreSQL URL. */
export type DatabaseTarget =
  | { kind: 'sqlite'; file: string | ':memory:' }
  | { kind: 'postgres'; url: string };

/** Every knob Tidings reads, compiled once from the environment and frozen. */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly workerPort: number | null;
  readonly database: DatabaseTarget;
  readonly dataDir: string;
  /** Secret key of the default tenant; null means "generate one on first start". */
  readonly apiKey: string | null;
  /** Master secret for token signing and credential encryption; null = generated and kept in the store. */
  readonly secret: string | null;
  readonly logLevel: string;
  /** TIDINGS_LOG_FORMAT: `json` or `pretty`; null = pretty on a terminal, JSON otherwise (src/telemetry/logger.ts). */
  readonly logFormat: 'json' | 'pretty' | null;
  /** Largest accepted request body, in bytes (bulk ingest gets `bulkBodyLimit`). */
  readonly bodyLimit: number;
  readonly bulkBodyLimit: number;
  /**
   * TIDINGS_REQUEST_TIMEOUT_MS: how long a client has to send a whole request, headers and body;
   * past it the connection is closed. Streams (SSE, WebSocket) are not bound by it once open.
   */
  readonly requestTimeoutMs: number;
  /** Jobs a worker runs at once. */
  readonly workerConcurrency: number;
  /**
   * TIDINGS_MAX_STREAMS: inbox streams (SSE and WebSocket) open at once in this process; null =
   * half the process's open-files limit (src/api/connection-limits.ts).
   */
  readonly maxStreams: number | null;
  /** How long a claimed job stays leased without a heartbeat. */
  readonly leaseMs: number;
  /** TIDINGS_CIRCUIT_COOLDOWN_MS: how long an integration's open circuit stays open before a probe. */
  readonly circuitCoolDownMs: number;
  /**
   * `tidings start` runs its workers on this many threads beside the API thread (each with its
   * own store connection), so ingest and delivery use separate cores; 0 runs them on the API thread.
   */
  readonly workerThreads: number;
  /**
   * TIDINGS_ALLOW_PRIVATE_TARGETS as given: a comma-separated CIDR list or `all`; null = none.
   * src/security/outbound parses and applies it.
   */
  readonly allowPrivateTargets: string | null;
  /** TIDINGS_SECRET_PREVIOUS: the secret values were sealed under before TIDINGS_SECRET (re-sealed at start). */
  readonly secretPrevious: string | null;
  /** TIDINGS_OPERATOR_KEY: enables the tenant and key routes (/v1/tenants); null = they answer 404. */
  readonly operatorKey: string | null;
  /** TIDINGS_CORS_ORIGINS: origins browser-facing routes answer with CORS headers; `*` = any. */
  readonly corsOrigins: readonly string[] | '*';
  /**
   * TIDINGS_PUBLIC_URL: the base URL links in messages point at (one-click unsubscribe, provider
   * callbacks), without a trailing slash; defaults to `http://TIDINGS_HOST:TIDINGS_PORT`.
   */
  readonly publicUrl: string;
  /**
   * Test-only, unset by default (src/feedback/sns-certificates.ts): TIDINGS_TEST_SNS_CERT_HOST, a
   * `host:port` also accepted as an SNS host for signing certificates and subscription links, and
   * TIDINGS_TEST_SNS_CA, a PEM file trusted for those fetches (a local fake's certificate).
   */
  readonly testSns: { readonly certHost: string | null; readonly caFile: string | null };
  /**
   * TIDINGS_RETENTION: events, messages, sandbox captures, dead letters and the like older than this
   * are deleted by the retention sweep (src/ingest/retention.ts).
   */
  readonly retentionMs: number;
  /** Settings that work but deserve a word at start-up. */
  readonly warnings: readonly string[];
}

/** A configuration value that cannot work; the message says how to fix it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function intIn(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is not valid: use a whole number from ${min} to ${max}.`,
    );
  }
  return value;
}

/** TIDINGS_RETENTION: a duration from one second to ten years ("90d", "12h", "5s"). */
function parseRetention(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_RETENTION_MS;
  const ms = parseDuration(raw);
  if (ms === null || ms < 1000 || ms > 3650 * 86_400_000) {
    throw new ConfigError(
      `TIDINGS_RETENTION=${JSON.stringify(raw)} is not valid: use a duration from 1s to 3650d, such as 90d, 12h or 30m.`,
    );
  }
  return ms;
}

/** TIDINGS_RETENTION's default: 90 days. */
export const DEFAULT_RETENTION_MS = 90 * 86_400_000;

function parseDatabase(raw: string, cwd: string): DatabaseTarget {
  if (raw.startsWith('postgres://') || raw.startsWith('postgresql://')) return { kind: 'postgres', url: raw };
  if (raw.startsWith('sqlite:')) {
    const rest = raw.slice('sqlite:'.length);
    if (rest === ':memory:') return { kind: 'sqlite', file: ':memory:' };
    if (rest === '')
      throw new ConfigError('TIDINGS_DATABASE_URL=sqlite: needs a path, e.g. sqlite:./data/tidings.db');
    return { kind: 'sqlite', file: path.resolve(cwd, rest) };
  }
  throw new ConfigError(
    `TIDINGS_DATABASE_URL=${JSON.stringify(raw)} is not valid: use sqlite:<path>, sqlite::memory: or postgres://user@host:5432/db.`,
  );
}

/** TIDINGS_ALLOW_PRIVATE_TARGETS kept as given, once src/security/outbound can read it. */
function checkedAllowList(raw: string | undefined): string | null {
  try {
    return parseAllowList(raw).source;
  } catch (error) {
    if (error instanceof AllowListError) throw new ConfigError(error.message);
    throw error;
  }
}

/**
 * Reads the environment into a frozen {@link Config}.
 *
 * @example
 * const config = loadConfig({ TIDINGS_PORT: '9000' });
 * config.port; // 9000
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const database = parseDatabase(env.TIDINGS_DATABASE_URL || 'sqlite:./data/tidings.db', cwd);
  const defaultDataDir =
    database.kind === 'sqlite' && database.file !== ':memory:'
      ? path.dirname(database.file)
      : path.resolve(cwd, 'data');
  const dataDir = env.TIDINGS_DATA_DIR ? path.resolve(cwd, env.TIDINGS_DATA_DIR) : defaultDataDir;

  const apiKey = env.TIDINGS_API_KEY || null;
  // Any printable ASCII, as API.md has it, spaces included; but not at either end, where an HTTP
  // header's value drops them (the key could never be sent whole).
  if (apiKey !== null && (apiKey.length < 16 || !/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(apiKey))) {
    throw new ConfigError(
      'TIDINGS_API_KEY must be at least 16 printable ASCII characters, not starting or ending with a space; unset it to have one generated.',
    );
  }
  // API.md puts no rule on the secret, so a short one is accepted; start-up warns about it.
  const secret = env.TIDINGS_SECRET || null;
  const warnings: string[] = [];
  if (secret !== null && secret.length < 32) {
    warnings.push(
      'TIDINGS_SECRET is shorter than 32 characters; a longer one (openssl rand -hex 32) is safer.',
    );
  }
  const logLevel = env.TIDINGS_LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(
      `TIDINGS_LOG_LEVEL=${JSON.stringify(logLevel)} is not valid: use one of ${LOG_LEVELS.join(', ')}.`,
    );
  }
  const logFormat = env.TIDINGS_LOG_FORMAT || null;
  if (logFormat !== null && logFormat !== 'json' && logFormat !== 'pretty') {
    throw new ConfigError(
      `TIDINGS_LOG_FORMAT=${JSON.stringify(logFormat)} is not valid: use json or pretty (unset: pretty on a terminal, JSON otherwise).`,
    );
  }
  const workerPortRaw = env.TIDINGS_WORKER_PORT;
  const operatorKey = env.TIDINGS_OPERATOR_KEY || null;
  if (operatorKey !== null && (operatorKey.length < 32 || !/^[\x21-\x7e]+$/.test(operatorKey))) {
    throw new ConfigError(
      'TIDINGS_OPERATOR_KEY must be at least 32 printable characters without spaces (openssl rand -hex 32); unset it to turn the tenant routes off.',
    );
  }
  const corsOrigins = checkedCorsOrigins(env.TIDINGS_CORS_ORIGINS);

  const testSns = Object.freeze({
    certHost: env.TIDINGS_TEST_SNS_CERT_HOST || null,
    caFile: env.TIDINGS_TEST_SNS_CA || null,
  });
  if (testSns.certHost !== null || testSns.caFile !== null) {
    warnings.push(
      'TIDINGS_TEST_SNS_CERT_HOST / TIDINGS_TEST_SNS_CA are set: SNS callbacks are verified against a test host. Never set them in production.',
    );
  }
  const host = checkedHost(env.TIDINGS_HOST || '127.0.0.1');
  const port = intIn(env, 'TIDINGS_PORT', 8787, 0, 65535);
  return Object.freeze({
    host,
    port,
    workerPort: workerPortRaw ? intIn(env, 'TIDINGS_WORKER_PORT', 0, 0, 65535) : null,
    database: Object.freeze(database),
    dataDir,
    apiKey,
    secret,
    logLevel,
    logFormat,
    bodyLimit: intIn(env, 'TIDINGS_BODY_LIMIT', 1024 * 1024, 1024, 64 * 1024 * 1024),
    bulkBodyLimit: intIn(env, 'TIDINGS_BULK_BODY_LIMIT', 16 * 1024 * 1024, 1024, 256 * 1024 * 1024),
    requestTimeoutMs: intIn(env, 'TIDINGS_REQUEST_TIMEOUT_MS', 120_000, 500, 3_600_000),
    workerConcurrency: intIn(env, 'TIDINGS_WORKER_CONCURRENCY', 256, 1, 10_000),
    maxStreams: env.TIDINGS_MAX_STREAMS ? intIn(env, 'TIDINGS_MAX_STREAMS', 0, 1, 10_000_000) : null,
    leaseMs: intIn(env, 'TIDINGS_LEASE_MS', 30_000, 100, 3_600_000),
    workerThreads: intIn(env, 'TIDINGS_WORKER_THREADS', 1, 0, 64),
    circuitCoolDownMs: intIn(env, 'TIDINGS_CIRCUIT_COOLDOWN_MS', 30_000, 100, 3_600_000),
    allowPrivateTargets: checkedAllowList(env.TIDINGS_ALLOW_PRIVATE_TARGETS),
    secretPrevious: env.TIDINGS_SECRET_PREVIOUS || null,
    operatorKey,
    corsOrigins,
    publicUrl: checkedPublicUrl(env.TIDINGS_PUBLIC_URL, host, port),
    testSns,
    retentionMs: parseRetention(env.TIDINGS_RETENTION),
    warnings: Object.freeze(warnings),
  });
}

/**
 * TIDINGS_CORS_ORIGINS: `*` (or unset) for any origin, else a comma-separated list of origins as
 * browsers send them in `Origin` (`scheme://host[:port]`, the host in lower case, no path). A value
 * that can never match — `app.example.com` without a scheme, a path, `*` inside a list — would
 * silently lock every page out, so it stops start-up instead; a trailing slash is forgiven.
 */
function checkedCorsOrigins(raw: string | undefined): readonly string[] | '*' {
  const trimmed = (raw ?? '*').trim();
  if (trimmed === '*' || trimmed === '') return '*';
  const origins = trimmed
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const url = URL.canParse(entry) ? new URL(entry) : null;
      if (
        !url ||
        (url.protocol !== 'http:' && url.protocol !== 'https:') ||
        url.pathname !== '/' ||
        url.search ||
        url.hash ||
        url.username ||
        url.password
      ) {
        throw new ConfigError(
          `TIDINGS_CORS_ORIGINS: ${JSON.stringify(entry)} is not an origin: list scheme://host[:port] values separated by commas (e.g. https://app.example.com,http://localhost:3000), or use * for any origin.`,
        );
      }
      return url.origin;
    });
  return Object.freeze([...new Set(origins)]);
}

// Labels of letters, digits, `-` and `_` (container names use it), and an optional trailing dot.
const HOST_NAME =
  /^(?=.{1,254}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** TIDINGS_HOST: an IP address or a host name to listen on (else the listen fails without naming it). */
function checkedHost(host: string): string {
  if (isIP(host) !== 0 || HOST_NAME.test(host)) return host;
  throw new ConfigError(
    `TIDINGS_HOST=${JSON.stringify(host)} is not valid: use the address to listen on, e.g. 127.0.0.1, 0.0.0.0, :: or a host name.`,
  );
}

/** TIDINGS_PUBLIC_URL as links are built from it: http(s), no query or fragment, no trailing slash. */
function checkedPublicUrl(raw: string | undefined, host: string, port: number): string {
  if (!raw) return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const url = URL.canParse(raw) ? new URL(raw) : null;
  if (
    !url ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.search ||
    url.hash ||
    url.username
  ) {
    throw new ConfigError(
      `TIDINGS_PUBLIC_URL=${JSON.stringify(raw)} is not valid: use the http(s) URL users reach Tidings at, e.g. https://notify.example.com (a path is kept; no query, fragment or credentials).`,
    );
  }
  return url.href.replace(/\/+$/, '');
}
