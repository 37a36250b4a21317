import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTidings } from '../../src/cli/runtime.ts';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { TEST_KEY } from '../helpers/server.ts';

// A port another process holds is a configuration error naming the variable (the CLI prints it
// and exits 2), not a stack trace.

let taken: Server;
let port = 0;

beforeAll(async () => {
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  port = (taken.address() as { port: number }).port;
});

afterAll(() => new Promise<void>((resolve) => taken.close(() => resolve())));

describe('listening', () => {
  it('on a port in use: a ConfigError naming TIDINGS_HOST and TIDINGS_PORT', async () => {
    const config = loadConfig({
      TIDINGS_DATABASE_URL: 'sqlite::memory:',
      TIDINGS_PORT: String(port),
      TIDINGS_API_KEY: TEST_KEY,
      TIDINGS_WORKER_THREADS: '0',
    });
    const failed = await startTidings(config, silentLogger(), ['api', 'worker']).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(ConfigError);
    expect((failed as Error).message).toMatch(
      new RegExp(`TIDINGS_HOST=127\\.0\\.0\\.1 TIDINGS_PORT=${port}.*already in use`),
    );
  });
});
