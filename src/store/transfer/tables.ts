/**
 * What `tidings migrate --from sqlite:…` copies, table by table. Both schemas have the same tables
 * and columns (sqlite/migrations, postgres/migrations); only the types differ: SQLite keeps JSON
 * as text, booleans as 0/1, and PostgreSQL has JSONB and BOOLEAN. Columns are named one by one,
 * never `SELECT *`, so a column one side has and the other lacks fails loudly instead of being
 * dropped; test/integration/migrate-from.test.ts checks this list against both live schemas.
 */

/** How a SQLite value becomes a PostgreSQL one. */
export type ColumnKind = 'text' | 'int' | 'json' | 'bool';

export interface TableSpec {
  name: string;
  /** Copied columns, in insert order. */
  columns: Readonly<Record<string, ColumnKind>>;
  /**
   * SQL over the batch record `r` that replaces a column's copied value (the jobs table turns
   * leases into ready jobs this way, inside the INSERT, so rows stream through untouched).
   */
  rewrite?: Readonly<Record<string, string>>;
  /** The id is an identity column the copy keeps: INSERT … OVERRIDING SYSTEM VALUE. */
  keepsIdentity?: boolean;
}

// A leased job's worker belonged to the old installation and is gone: the job arrives ready, as
// releaseExpiredLeases would leave it (its attempt count stands, as after any lost lease).
const UNLEASED = (column: string) => `CASE WHEN r.state = 'leased' THEN NULL ELSE r.${column} END`;

/**
 * In copy order: tenants before api_keys (the one foreign key). Settings come first so the
 * master secret is in place before anything that depends on it.
 */
export const TABLES: readonly TableSpec[] = [
  { name: 'settings', columns: { key: 'text', value: 'text' } },
  { name: 'tenants', columns: { id: 'text', name: 'text', created_at: 'int' } },
  {
    name: 'api_keys',
    columns: {
      key_hash: 'text',
      id: 'text',
      tenant_id: 'text',
      label: 'text',
      prefix: 'text',
      created_at: 'int',
    },
  },
  {
    name: 'subscribers',
    columns: {
      tenant_id: 'text',
      id: 'text',
      email: 'text',
      phone: 'text',
      email_hash: 'text',
      phone_hash: 'text',
      locale: 'text',
      timezone: 'text',
      data: 'json',
      created_at: 'int',
      updated_at: 'int',
    },
  },
  {
    name: 'preferences',
    columns: { tenant_id: 'text', subscriber_id: 'text', choices: 'json', updated_at: 'int' },
  },
  { name: 'tenant_settings', columns: { tenant_id: 'text', settings: 'json', updated_at: 'int' } },
  { name: 'topics', columns: { tenant_id: 'text', key: 'text', name: 'text', created_at: 'int' } },
  {
    name: 'topic_members',
    columns: { tenant_id: 'text', topic_key: 'text', subscriber_id: 'text', created_at: 'int' },
  },
  {
    name: 'devices',
    // The token is copied as it is; address_hash is a plain SHA-256 (no key), valid in either store.
    columns: {
      tenant_id: 'text',
      subscriber_id: 'text',
      id: 'text',
      platform: 'text',
      token: 'text',
      subscription: 'json',
      address_hash: 'text',
      active: 'bool',
      deactivated_at: 'int',
      reason: 'text',
      created_at: 'int',
      updated_at: 'int',
    },
  },
  {
    name: 'webhook_endpoints',
    // The secrets stay sealed: the same master secret opens them in either store.
    columns: {
      tenant_id: 'text',
      id: 'text',
      url: 'text',
      events: 'json',
      sealed_secrets: 'text',
      enabled: 'bool',
      disabled_reason: 'text',
      created_at: 'int',
      updated_at: 'int',
    },
  },
  {
    name: 'workflows',
    columns: {
      tenant_id: 'text',
      key: 'text',
      definition: 'json',
      version: 'int',
      created_at: 'int',
      updated_at: 'int',
      paused_reason: 'text',
      render_timeouts: 'int',
    },
  },
  {
    name: 'layout_versions',
    columns: {
      tenant_id: 'text',
      key: 'text',
      version: 'int',
      kind: 'text',
      source: 'text',
      html: 'text',
      created_at: 'int',
    },
  },
  {
    name: 'workflow_versions',
    columns: { tenant_id: 'text', key: 'text', version: 'int', definition: 'json', created_at: 'int' },
  },
  {
    name: 'integrations',
    columns: {
      tenant_id: 'text',
      id: 'text',
      channel: 'text',
      provider: 'text',
      priority: 'int',
      config: 'json',
      // Sealed with a key derived from the master secret: copied as the opaque string it is.
      credentials: 'text',
      enabled: 'bool',
      rate_limit_per_second: 'int',
      created_at: 'int',
      updated_at: 'int',
    },
  },
  {
    // A breaker's last published state; the new installation's workers publish theirs on transitions.
    name: 'integration_circuits',
    columns: {
      tenant_id: 'text',
      integration_id: 'text',
      state: 'text',
      failures: 'int',
      opened_at: 'int',
      updated_at: 'int',
    },
  },
  // Before events: a fallback job opens its event's part as it is inserted (migration 050), and
  // finds no event yet; the events arrive with their counts, those parts included.
  {
    name: 'jobs',
    columns: {
      id: 'int',
      tenant_id: 'text',
      kind: 'text',
      lane: 'text',
      partition_key: 'text',
      run_at: 'int',
      attempts: 'int',
      max_attempts: 'int',
      state: 'text',
      lease_owner: 'text',
      lease_until: 'int',
      payload: 'json',
      last_error: 'text',
      created_at: 'int',
    },
    rewrite: {
      state: `CASE WHEN r.state = 'leased' THEN 'ready' ELSE r.state END`,
      lease_owner: UNLEASED('lease_owner'),
      lease_until: UNLEASED('lease_until'),
    },
    keepsIdentity: true,
  },
  {
    name: 'events',
    columns: {
      tenant_id: 'text',
      id: 'text',
      workflow: 'text',
      payload: 'json',
      priority: 'text',
      status: 'text',
      created_at: 'int',
      workflow_version: 'int',
      open_parts: 'int',
      counts_every_part: 'bool',
    },
  },
  {
    name: 'idempotency_keys',
    columns: { tenant_id: 'text', key: 'text', event_id: 'text', payload_hash: 'text', created_at: 'int' },
  },
  {
    name: 'bulk_responses',
    columns: { tenant_id: 'text', key: 'text', body_hash: 'text', response: 'json', created_at: 'int' },
  },
  // Copied although they are transient: a counter of a long window ("1d") left behind would let a
  // subscriber get up to twice the limit on the day of the move. One row per active scope: cheap.
  {
    name: 'rate_counters',
    columns: { tenant_id: 'text', scope: 'text', window_end: 'int', count: 'int' },
  },
  {
    name: 'messages',
    columns: {
      tenant_id: 'text',
      id: 'text',
      event_id: 'text',
      subscriber_id: 'text',
      channel: 'text',
      workflow: 'text',
      status: 'text',
      provider: 'text',
      content: 'json',
      data: 'json',
      timeline: 'json',
      event_at: 'int',
      created_at: 'int',
      updated_at: 'int',
      seen_at: 'int',
      read_at: 'int',
      archived_at: 'int',
      last_error: 'text',
      reason: 'text',
      device_id: 'text',
      provider_message_id: 'text',
      meta: 'json',
      snoozed_until: 'int',
      escalated: 'bool',
      wake_job_id: 'int',
    },
  },
  // The inbox change log and its per-subscriber counters: open clients resume across the move.
  {
    name: 'inbox_cursors',
    columns: { tenant_id: 'text', subscriber_id: 'text', last_seq: 'int' },
  },
  {
    name: 'inbox_changes',
    columns: {
      tenant_id: 'text',
      subscriber_id: 'text',
      seq: 'int',
      type: 'text',
      item_id: 'text',
      created_at: 'int',
    },
  },
  // Presence rows expire within a minute; copied only so the schemas stay alike table for table.
  {
    name: 'inbox_presence',
    columns: { tenant_id: 'text', subscriber_id: 'text', holder: 'text', expires_at: 'int' },
  },
  {
    name: 'skipped_steps',
    columns: {
      tenant_id: 'text',
      event_id: 'text',
      subscriber_id: 'text',
      step: 'int',
      channel: 'text',
      reason: 'text',
      created_at: 'int',
    },
  },
  // Open digests and their events: a window in progress on the day of the move still closes
  // (its close job is copied with the jobs) and sends what it gathered.
  {
    name: 'digests',
    columns: {
      tenant_id: 'text',
      id: 'text',
      workflow: 'text',
      subscriber_id: 'text',
      digest_key: 'text',
      opened_at: 'int',
      closes_at: 'int',
      closed: 'bool',
    },
  },
  {
    name: 'digest_events',
    columns: { tenant_id: 'text', digest_id: 'text', event_id: 'text', joined_at: 'int' },
  },
  // Suppressed addresses must survive a move: the providers that reported them will not say it again.
  {
    name: 'suppressions',
    columns: {
      tenant_id: 'text',
      channel: 'text',
      address_hash: 'text',
      reason: 'text',
      detail: 'text',
      created_at: 'int',
    },
  },
  // The consent log must survive a move: it is the proof of every opt-out. Its ids keep their order.
  {
    name: 'consent_log',
    columns: {
      id: 'int',
      tenant_id: 'text',
      subscriber_id: 'text',
      subscriber_hash: 'text',
      at: 'int',
      change: 'json',
      source: 'text',
      detail: 'text',
    },
    keepsIdentity: true,
  },
  {
    name: 'soft_bounces',
    columns: { tenant_id: 'text', channel: 'text', address_hash: 'text', message_ref: 'text', at: 'int' },
  },
  { name: 'provider_reports', columns: { tenant_id: 'text', key: 'text', applied_at: 'int' } },
  { name: 'erasures', columns: { tenant_id: 'text', last_at: 'int' } },
  {
    name: 'sandbox_captures',
    columns: {
      tenant_id: 'text',
      id: 'text',
      message_id: 'text',
      channel: 'text',
      recipient: 'text',
      content: 'json',
      created_at: 'int',
    },
  },
  // Moved by triggers as preferences, suppressions, settings and workflows are copied in: a row
  // made so is already there, and only equality between two readings counts.
  { name: 'consent_versions', columns: { tenant_id: 'text', version: 'int', choices: 'int' } },
];

/** Tables whose rows belong to tenants: any row in one means the database is in use. */
export const TENANT_TABLES: readonly string[] = TABLES.filter((t) => t.name !== 'settings').map(
  (t) => t.name,
);

export function columnNames(spec: TableSpec): string[] {
  return Object.keys(spec.columns);
}
