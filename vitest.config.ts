import { defineConfig } from 'vitest/config';

// Everything runs on the embedded SQLite store; the end-to-end suite runs a second time on
// PostgreSQL (127.0.0.1:5432 unless TIDINGS_TEST_POSTGRES_URL says otherwise), next to the
// PostgreSQL-only tests. Without a server those skip with a message — except in CI, where they fail.
const POSTGRES_ONLY = ['test/store/postgres.test.ts', 'test/postgres/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    globalSetup: ['test/helpers/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'sqlite', include: ['test/**/*.test.ts'], exclude: POSTGRES_ONLY },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['test/integration/**/*.test.ts', 'test/security/**/*.test.ts', ...POSTGRES_ONLY],
          env: { TIDINGS_TEST_STORE: 'postgres' },
        },
      },
    ],
  },
});
