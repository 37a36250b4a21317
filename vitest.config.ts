import { defineConfig } from 'vitest/config';

// Everything runs on the embedded SQLite store; the end-to-end suite runs a second time on
// PostgreSQL (127.0.0.1:5432 unless TIDINGS_TEST_POSTGRES_URL says otherwise), next to the
// PostgreSQL-only tests. Without a server those skip with a message — except in CI, where they fail.
const POSTGRES_ONLY = ['test/store/postgres.test.ts', 'test/postgres/**/*.test.ts'];
const BOTH_STORES = ['test/integration/**/*.test.ts', 'test/security/**/*.test.ts'];

// Most files spend their time waiting (on servers, timers, child processes, PostgreSQL), so two
// run at once. These assert how long something took, or how long the event loop stalled, or kill
// processes mid-send: a neighbour's CPU would fail them, not the code, so they run alone, after
// the rest (the `*-alone` projects: `--project 'sqlite*'` selects a store's files of both kinds).
const ALONE = [
  // event-loop stall probes and compile/parse budgets
  'test/integration/preview.test.ts',
  'test/security/consent-log-stream.test.ts',
  'test/security/inbox-ws-actions.test.ts',
  'test/security/message-catalogue-budget.test.ts',
  'test/security/mjml-compile-budget.test.ts',
  'test/security/templates-budget.test.ts',
  'test/security/templates-parse-budget.test.ts',
  'test/unit/templates/engine.test.ts',
  'test/unit/templates/markup-bound.test.ts',
  'test/unit/templates/mjml-compiler.test.ts',
  'test/unit/templates/tracked-html.test.ts',
  // elapsed-time bounds on sends, streams, timeouts, threads and locks
  'test/api/request-timeout.test.ts',
  'test/channels/smtp-deadline.test.ts',
  'test/channels/webhook.test.ts',
  'test/integration/inbox-realtime.test.ts',
  'test/unit/queue/worker.test.ts',
  'test/unit/supervised-thread.test.ts',
  'test/unit/write-lock.test.ts',
  'test/integration/disk-full.test.ts',
  'test/integration/inbox-snooze.test.ts',
  'test/integration/tenant-isolation.test.ts',
  'test/security/event-view-stream.test.ts',
  'test/security/export-large-messages.test.ts',
  'test/security/topic-members-bulk.test.ts',
  'test/unit/api/ws-keepalive.test.ts',
  // kill -9 and restarts under load
  'test/integration/chaos-kill.test.ts',
  'test/integration/chaos-providers.test.ts',
  'test/integration/crash-safety.test.ts',
  'test/postgres/chaos-restart-sends.test.ts',
  'test/postgres/restart.test.ts',
];
const onPostgres = (file: string) =>
  file.startsWith('test/integration/') ||
  file.startsWith('test/security/') ||
  file.startsWith('test/postgres/');

const sqlite = { name: 'sqlite', include: ['test/**/*.test.ts'], exclude: POSTGRES_ONLY };
const postgres = {
  name: 'postgres',
  include: [...BOTH_STORES, ...POSTGRES_ONLY],
  env: { TIDINGS_TEST_STORE: 'postgres' },
};

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    globalSetup: ['test/helpers/global-setup.ts'],
    // Projects of different worker counts run one group after the other (sequence.groupOrder).
    projects: [
      {
        extends: true,
        test: { ...sqlite, exclude: [...sqlite.exclude, ...ALONE], maxWorkers: 2 },
      },
      {
        extends: true,
        test: { ...postgres, exclude: ALONE, maxWorkers: 2 },
      },
      {
        extends: true,
        test: {
          ...sqlite,
          name: 'sqlite-alone',
          include: ALONE.filter((file) => !file.startsWith('test/postgres/')),
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          ...postgres,
          name: 'postgres-alone',
          include: ALONE.filter(onPostgres),
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
