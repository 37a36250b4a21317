import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Role, startTidings, type Tidings } from '../../src/cli/runtime.ts';
import { loadConfig } from '../../src/config/index.ts';
import { type Logger, silentLogger } from '../../src/telemetry/logger.ts';
import { POSTGRES_TEST_SECRET } from './child.ts';
import { migratedDatabaseEnv, STORE_UNDER_TEST } from './store-under-test.ts';

// biome-ignore lint/suspicious/noExplicitAny: test responses are read field by field and checked by assertions
type Json = any;

export interface TestServer {
  url: string;
  /** TIDINGS_DATABASE_URL of this server's own fresh database. */
  databaseUrl: string;
  key: string;
  dataDir: string;
  tidings: Tidings;
  /** fetch with the server key (or `auth`), JSON in and out. */
  call(
    method: string,
    route: string,
    body?: unknown,
    options?: { auth?: string | null; headers?: Record<string, string> },
  ): Promise<{
    status: number;
    body: Json;
    headers: Headers;
  }>;
  close(): Promise<void>;
}

export const TEST_KEY = 'tdk_test_key_0123456789abcdef';

/**
 * Starts a real Tidings (API + worker) on a free port with a fresh database of the store under
 * test (already migrated, as a start would leave it); it logs nothing unless given a `logger` (see capturingLogger).
 */
export async function startTestServer(
  env: Record<string, string> = {},
  roles: Role[] = ['api', 'worker'],
  logger: Logger = silentLogger(),
): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tidings-e2e-'));
  const database = await migratedDatabaseEnv(dataDir);
  const config = loadConfig({
    ...database,
    TIDINGS_PORT: '0',
    TIDINGS_API_KEY: TEST_KEY,
    TIDINGS_LEASE_MS: '5000',
    // Required on PostgreSQL; on SQLite the generated one (in the data dir's secret file) is used.
    ...(STORE_UNDER_TEST === 'postgres' ? { TIDINGS_SECRET: POSTGRES_TEST_SECRET } : {}),
    ...env,
  });
  const tidings = await startTidings(config, logger, roles);
  const url = tidings.url!;
  return {
    url,
    databaseUrl: database.TIDINGS_DATABASE_URL!,
    key: TEST_KEY,
    dataDir,
    tidings,
    async call(method, route, body, options = {}) {
      const auth = options.auth === undefined ? TEST_KEY : options.auth;
      const headers: Record<string, string> = { ...options.headers };
      if (auth !== null) headers.authorization = `Bearer ${auth}`;
      if (body !== undefined) headers['content-type'] ??= 'application/json';
      const response = await fetch(`${url}${route}`, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
    close: () => tidings.close(),
  };
}
