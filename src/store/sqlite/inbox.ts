import type Database from 'better-sqlite3';
import {
  INBOX_TIMELINE_ROOM,
  type InboxCatchUp,
  type InboxChangeRecord,
  type InboxCursor,
  type InboxMark,
  type InboxPage,
  type InboxStore,
  type PresenceKey,
  type PresenceStore,
} from '../port.ts';
import { MARKED_ITEM_COLUMNS, type MessageRow, toMarkedItem, toMessage } from '../rows.ts';
import type { JobStatements } from './jobs.ts';
import { messageRowBytes, sizedPage } from './sized-page.ts';

/** In-app messages that never reached the inbox (failed, suppressed…) are not inbox items. */
const IS_ITEM = `channel = 'in_app' AND status NOT IN ('failed', 'suppressed', 'cancelled', 'rate_limited')`;

/**
 * The next number of a subscriber's change log: one past the highest logged, or purged (a purge
 * records the highest number it deleted in `inbox_cursors`), so numbers never repeat. SQLite runs
 * one writer at a time, so reading the highest and inserting the next needs no lock of its own —
 * and the delivery path pays one insert per inbox item, not an insert and a counter update.
 */
const NEXT_SEQ = `1 + MAX(
    COALESCE((SELECT MAX(seq) FROM inbox_changes WHERE tenant_id = @tenant AND subscriber_id = @subscriber), 0),
    COALESCE((SELECT last_seq FROM inbox_cursors WHERE tenant_id = @tenant AND subscriber_id = @subscriber), 0))`;

/**
 * Appends to a subscriber's inbox change log; called inside the transaction that makes the change
 * (messages.ts logs new items the same way), so a change and its log entry commit together.
 */
export function inboxLogStatements(db: Database.Database) {
  const insertSql = `INSERT INTO inbox_changes (tenant_id, subscriber_id, seq, type, item_id, created_at)
     VALUES (@tenant, @subscriber, ${NEXT_SEQ}, @type, @item, @now)`;
  const insert = db.prepare(`${insertSql} RETURNING seq`).pluck();
  // Without RETURNING: a fifth cheaper (measured: BENCHMARKS.md 2026-12-06, later), for the many
  // inserts whose number nobody reads (a delivery that no open stream here watches).
  const append = db.prepare(insertSql);
  return {
    /** Logs a change whose number the caller does not need. */
    append(
      tenantId: string,
      subscriberId: string,
      type: InboxChangeRecord['type'],
      itemId: string,
      now: number,
    ) {
      append.run({ tenant: tenantId, subscriber: subscriberId, type, item: itemId, now });
    },
    /** Answers the change's number in the subscriber's log. */
    log(
      tenantId: string,
      subscriberId: string,
      type: InboxChangeRecord['type'],
      itemId: string | null,
      now: number,
    ): number {
      return insert.get({ tenant: tenantId, subscriber: subscriberId, type, item: itemId, now }) as number;
    },
  };
}
export type InboxLog = ReturnType<typeof inboxLogStatements>;

/** The columns of a message row, in the order {@link messageRowOf} reads them. */
const MESSAGE_COLUMNS = [
  'tenant_id',
  'id',
  'event_id',
  'subscriber_id',
  'channel',
  'workflow',
  'status',
  'provider',
  'content',
  'data',
  'timeline',
  'event_at',
  'created_at',
  'updated_at',
  'seen_at',
  'read_at',
  'archived_at',
  'last_error',
  'reason',
  'device_id',
  'provider_message_id',
  'meta',
  'snoozed_until',
  'escalated',
] as const satisfies readonly (keyof MessageRow)[];

// A column added to MessageRow and not listed above fails to compile here.
const _everyColumn: Exclude<keyof MessageRow, (typeof MESSAGE_COLUMNS)[number]> extends never ? true : never =
  true;
void _everyColumn;

/** The message row in `values` (a raw statement's array) from index `from` on. */
function messageRowOf(values: readonly unknown[], from: number): MessageRow {
  const row: Record<string, unknown> = {};
  for (let i = 0; i < MESSAGE_COLUMNS.length; i++) row[MESSAGE_COLUMNS[i]!] = values[from + i];
  return row as unknown as MessageRow;
}

const entry = (now: number, status: string, detail?: string) =>
  JSON.stringify({ at: new Date(now).toISOString(), status, ...(detail ? { detail } : {}) });

/** The new read/seen/archive state of an item after `mark` (reading, archiving and clicking read it). */
function marked(row: MessageRow, mark: InboxMark, now: number) {
  const reads = mark === 'read' || mark === 'archive' || mark === 'click';
  return {
    seen: mark === 'unread' ? row.seen_at : (row.seen_at ?? now),
    read: mark === 'unread' ? null : reads ? (row.read_at ?? now) : row.read_at,
    archived: mark === 'archive' ? (row.archived_at ?? now) : row.archived_at,
  };
}

export function sqliteInboxStore(db: Database.Database, log: InboxLog, jobs: JobStatements): InboxStore {
  const get = db.prepare('SELECT * FROM messages WHERE tenant_id = ? AND id = ?');
  const inboxItem = db.prepare(
    `SELECT * FROM messages WHERE tenant_id = ? AND id = ? AND subscriber_id = ? AND channel = 'in_app'`,
  );
  const unread = db
    .prepare(
      `SELECT COUNT(*) FROM messages INDEXED BY messages_unread WHERE tenant_id = ? AND subscriber_id = ?
         AND read_at IS NULL AND archived_at IS NULL AND snoozed_until IS NULL AND ${IS_ITEM}`,
    )
    .pluck();
  const unreadByCategory = db.prepare(
    `SELECT json_extract(w.definition, '$.category') AS category, COUNT(*) AS n
       FROM messages m INDEXED BY messages_unread
       LEFT JOIN workflows w ON w.tenant_id = m.tenant_id AND w.key = m.workflow
      WHERE m.tenant_id = ? AND m.subscriber_id = ? AND m.read_at IS NULL AND m.archived_at IS NULL
        AND m.snoozed_until IS NULL AND m.channel = 'in_app'
        AND m.status NOT IN ('failed', 'suppressed', 'cancelled', 'rate_limited')
      GROUP BY 1`,
  );
  const writeMarks = db.prepare(
    `UPDATE messages SET seen_at = ?, read_at = ?, archived_at = ?, status = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
  );
  const append = db.prepare(
    `UPDATE messages SET timeline = json_insert(timeline, '$[#]', json(?)) WHERE tenant_id = ? AND id = ?`,
  );
  // An entry that moves no status (a second click, a read after "unread", a snooze) goes in only
  // while the timeline has room (INBOX_TIMELINE_ROOM).
  const appendIfRoom = db.prepare(
    `UPDATE messages SET timeline = json_insert(timeline, '$[#]', json(?))
      WHERE tenant_id = ? AND id = ? AND json_array_length(timeline) < ${INBOX_TIMELINE_ROOM}`,
  );
  const readAll = db.prepare(
    `UPDATE messages SET read_at = @now, seen_at = COALESCE(seen_at, @now), updated_at = @now,
       status = CASE WHEN status IN ('delivered', 'sent') THEN 'read' ELSE status END,
       timeline = CASE WHEN status IN ('delivered', 'sent') OR json_array_length(timeline) < ${INBOX_TIMELINE_ROOM}
         THEN json_insert(timeline, '$[#]', json(@entry)) ELSE timeline END
     WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId AND ${IS_ITEM}
       AND read_at IS NULL AND archived_at IS NULL AND snoozed_until IS NULL
     RETURNING ${MARKED_ITEM_COLUMNS}`,
  );
  const seenAll = db.prepare(
    `UPDATE messages SET seen_at = @now, updated_at = @now
     WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId AND ${IS_ITEM} AND seen_at IS NULL
       AND snoozed_until IS NULL
     RETURNING ${MARKED_ITEM_COLUMNS}`,
  );
  const snooze = db.prepare(
    `UPDATE messages SET snoozed_until = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
  );
  // The item's wake job, if still waiting (not running, not gone), moved to a new snooze: one job
  // per item however often it is snoozed (migration 044). Its attempts start again, as a new job's.
  // Its payload must name the item: a job id copied to PostgreSQL may be handed out again there.
  const moveWake = db.prepare(
    `UPDATE jobs SET run_at = @runAt, payload = @payload, attempts = 0, last_error = NULL
      WHERE id = (SELECT wake_job_id FROM messages WHERE tenant_id = @tenantId AND id = @id)
        AND tenant_id = @tenantId AND kind = @kind AND state = 'ready'
        AND json_extract(payload, '$.itemId') = @id`,
  );
  const rememberWake = db.prepare('UPDATE messages SET wake_job_id = ? WHERE tenant_id = ? AND id = ?');
  const wake = db.prepare(
    `UPDATE messages SET snoozed_until = NULL, seen_at = NULL, read_at = NULL, updated_at = ?
      WHERE tenant_id = ? AND id = ? AND snoozed_until = ? RETURNING *`,
  );
  // Many cursors in one statement each (a broadcast wakes every open stream at once): the log
  // read by its primary key per cursor, numbered per cursor to keep `limit` each. Read as arrays
  // and in no particular order: building 10,000 wide row objects, and sorting them, cost more
  // than the reads (the caller puts each cursor's changes in order).
  const changesOfMany = db
    .prepare(
      `WITH c AS (
       SELECT q.key AS q_i, c.seq AS c_seq, c.type AS c_type, c.item_id AS c_item, c.created_at AS c_created,
              row_number() OVER (PARTITION BY q.key ORDER BY c.seq) AS c_n
         FROM json_each(@cursors) q
        CROSS JOIN inbox_changes c ON c.tenant_id = @tenant
          AND c.subscriber_id = json_extract(q.value, '$[0]') AND c.seq > json_extract(q.value, '$[1]'))
     SELECT c.q_i, c.c_seq, c.c_type, c.c_item, c.c_created, ${MESSAGE_COLUMNS.map((name) => `m.${name}`).join(', ')}
       FROM c LEFT JOIN messages m ON m.tenant_id = @tenant AND m.id = c.c_item
      WHERE c.c_n <= @limit`,
    )
    .raw();
  const unreadOfMany = db.prepare(
    `SELECT subscriber_id, COUNT(*) AS n FROM messages INDEXED BY messages_unread
      WHERE tenant_id = @tenant AND subscriber_id IN (SELECT value FROM json_each(@subscribers))
        AND read_at IS NULL AND archived_at IS NULL AND snoozed_until IS NULL AND ${IS_ITEM}
      GROUP BY subscriber_id`,
  );
  const firstSeq = db
    .prepare('SELECT MIN(seq) FROM inbox_changes WHERE tenant_id = ? AND subscriber_id = ?')
    .pluck();
  const lastSeq = db.prepare(`SELECT ${NEXT_SEQ} - 1`).pluck();
  // One read transaction: the counts are those of the log as far as the pages reach (a stream
  // that read to the end of its log knows the count there, and carries it on: inbox/session.ts).
  // BEGIN and COMMIT rather than db.transaction, which would take the write lock (write-lock.ts)
  // that a read in WAL mode does not need.
  const begin = db.prepare('BEGIN');
  const commit = db.prepare('COMMIT');
  const readCatchUp = (tenantId: string, cursors: readonly InboxCursor[], limit: number) => {
    const own = !db.inTransaction;
    if (own) begin.run();
    try {
      return {
        rows: changesOfMany.all({
          tenant: tenantId,
          cursors: JSON.stringify(cursors.map((c) => [c.subscriberId, c.afterSeq])),
          limit,
        }) as unknown[][],
        counts: unreadOfMany.all({
          tenant: tenantId,
          subscribers: JSON.stringify([...new Set(cursors.map((c) => c.subscriberId))]),
        }) as { subscriber_id: string; n: number }[],
      };
    } finally {
      // SQLite may have ended it already (an I/O error): the error thrown is then the real one.
      if (own && db.inTransaction) commit.run();
    }
  };
  const oldest = db.prepare(
    'SELECT tenant_id, subscriber_id, seq FROM inbox_changes WHERE created_at < ? LIMIT ?',
  );
  const remember = db.prepare(
    `INSERT INTO inbox_cursors (tenant_id, subscriber_id, last_seq) VALUES (?, ?, ?)
     ON CONFLICT (tenant_id, subscriber_id) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)`,
  );
  const drop = db.prepare('DELETE FROM inbox_changes WHERE tenant_id = ? AND subscriber_id = ? AND seq = ?');
  // The highest number purged per subscriber is kept, so the next change is numbered past it.
  const purge = db.transaction((before: number, limit: number) => {
    const rows = oldest.all(before, limit) as { tenant_id: string; subscriber_id: string; seq: number }[];
    const highest = new Map<string, { tenant: string; subscriber: string; seq: number }>();
    for (const row of rows) {
      const key = `${row.tenant_id}\u0000${row.subscriber_id}`;
      const seen = highest.get(key);
      if (!seen || seen.seq < row.seq)
        highest.set(key, { tenant: row.tenant_id, subscriber: row.subscriber_id, seq: row.seq });
      drop.run(row.tenant_id, row.subscriber_id, row.seq);
    }
    for (const { tenant, subscriber, seq } of highest.values()) remember.run(tenant, subscriber, seq);
    return rows.length;
  });
  const listCache = new Map<string, Database.Statement>();

  const markOne = db.transaction(
    (tenantId: string, subscriberId: string, id: string, mark: InboxMark, now: number, detail?: string) => {
      const row = inboxItem.get(tenantId, id, subscriberId) as MessageRow | undefined;
      if (!row) return null;
      const next = marked(row, mark, now);
      const becameRead = row.read_at === null && next.read !== null;
      let status = row.status;
      if (becameRead && (status === 'delivered' || status === 'sent')) status = 'read';
      if (mark === 'click' && ['delivered', 'sent', 'read'].includes(status)) status = 'clicked';
      writeMarks.run(next.seen, next.read, next.archived, status, now, tenantId, id);
      // An entry that moves the status always goes in; a repeat only while there is room.
      const movedToRead = row.status === 'delivered' || row.status === 'sent';
      if (becameRead)
        (movedToRead ? append : appendIfRoom).run(entry(now, 'read', `inbox ${mark}`), tenantId, id);
      // Once per item: nothing takes an item out of the archive.
      if (mark === 'archive' && row.archived_at === null)
        append.run(entry(now, 'archived', 'inbox archive'), tenantId, id);
      if (mark === 'click')
        (status === 'clicked' && row.status !== 'clicked' ? append : appendIfRoom).run(
          entry(now, 'clicked', detail ?? 'inbox click'),
          tenantId,
          id,
        );
      log.log(tenantId, subscriberId, 'item.updated', id, now);
      return toMessage(get.get(tenantId, id) as MessageRow);
    },
  );
  const markAll = db.transaction(
    (tenantId: string, subscriberId: string, mark: 'read' | 'seen', now: number) => {
      const changed = (
        mark === 'seen'
          ? seenAll.all({ tenantId, subscriberId, now })
          : readAll.all({ tenantId, subscriberId, now, entry: entry(now, 'read', 'inbox read-all') })
      ) as MessageRow[];
      if (changed.length > 0) log.log(tenantId, subscriberId, `inbox.${mark}-all`, null, now);
      return changed.map(toMarkedItem);
    },
  );
  const snoozeOne = db.transaction(
    (
      tenantId: string,
      subscriberId: string,
      id: string,
      until: number,
      wakeJob: Parameters<JobStatements['enqueue']>[0],
      now: number,
    ) => {
      const row = inboxItem.get(tenantId, id, subscriberId) as MessageRow | undefined;
      if (!row) return null;
      snooze.run(until, now, tenantId, id);
      appendIfRoom.run(entry(now, 'snoozed', `until ${new Date(until).toISOString()}`), tenantId, id);
      const moved = moveWake.run({
        tenantId,
        id,
        kind: wakeJob.kind,
        runAt: wakeJob.runAt ?? now,
        payload: JSON.stringify(wakeJob.payload ?? null),
      });
      if (moved.changes === 0) rememberWake.run(jobs.enqueue(wakeJob, now), tenantId, id);
      log.log(tenantId, subscriberId, 'item.updated', id, now);
      return toMessage(get.get(tenantId, id) as MessageRow);
    },
  );
  const wakeOne = db.transaction((tenantId: string, id: string, until: number, now: number) => {
    const row = wake.get(now, tenantId, id, until) as MessageRow | undefined;
    if (!row) return null;
    log.log(tenantId, row.subscriber_id, 'item.created', id, now);
    return toMessage(row);
  });

  /** listInbox's statement for `page`, and its parameters but `@limit`. */
  const inboxQuery = (page: InboxPage) => {
    const where = [
      'tenant_id = @tenantId',
      'subscriber_id = @subscriberId',
      IS_ITEM,
      '(archived_at IS NULL) = @live',
      'snoozed_until IS NULL',
    ];
    if (page.status === 'unread') where.push('read_at IS NULL');
    else if (page.status === 'read') where.push('read_at IS NOT NULL');
    if (page.categories)
      where.push(`workflow IN (SELECT key FROM workflows WHERE tenant_id = @tenantId
        AND json_extract(definition, '$.category') IN (SELECT value FROM json_each(@categories)))`);
    if (page.before) where.push('(event_at < @beforeAt OR (event_at = @beforeAt AND id < @beforeId))');
    const sql = `SELECT * FROM messages INDEXED BY messages_inbox WHERE ${where.join(' AND ')}
      ORDER BY event_at DESC, id DESC LIMIT @limit`;
    let statement = listCache.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      listCache.set(sql, statement);
    }
    const params = {
      tenantId: page.tenantId,
      subscriberId: page.subscriberId,
      live: page.archived ? 0 : 1,
      ...(page.categories ? { categories: JSON.stringify(page.categories) } : {}),
      ...(page.before ? { beforeAt: page.before.eventAt, beforeId: page.before.id } : {}),
    };
    return { statement, params };
  };

  return {
    async listInbox(page) {
      const { statement, params } = inboxQuery(page);
      return (statement.all({ ...params, limit: page.limit }) as MessageRow[]).map(toMessage);
    },
    async pageInbox(page) {
      const { statement, params } = inboxQuery(page);
      return sizedPage(statement, params, page, messageRowBytes, toMessage);
    },
    async countUnread(tenantId, subscriberId) {
      return unread.get(tenantId, subscriberId) as number;
    },
    async countUnreadByCategory(tenantId, subscriberId) {
      const rows = unreadByCategory.all(tenantId, subscriberId) as { category: unknown; n: number }[];
      return new Map(rows.map((r) => [typeof r.category === 'string' ? r.category : null, r.n]));
    },
    async markInbox(tenantId, subscriberId, id, mark, now, detail) {
      return markOne.immediate(tenantId, subscriberId, id, mark, now, detail);
    },
    async markAllInbox(tenantId, subscriberId, mark, now) {
      return markAll.immediate(tenantId, subscriberId, mark, now);
    },
    async snoozeInbox(tenantId, subscriberId, id, until, wakeJob, now) {
      return snoozeOne.immediate(tenantId, subscriberId, id, until, wakeJob, now);
    },
    async wakeSnoozed(tenantId, id, until, now) {
      return wakeOne.immediate(tenantId, id, until, now);
    },
    async catchUpInboxes(tenantId, cursors, limit) {
      if (cursors.length === 0) return [];
      const { rows, counts } = readCatchUp(tenantId, cursors, limit);
      const unread = new Map(counts.map((r) => [r.subscriber_id, r.n]));
      const out: InboxCatchUp[] = cursors.map((c) => ({
        changes: [],
        unreadCount: unread.get(c.subscriberId) ?? 0,
      }));
      let sorted = true;
      for (const values of rows) {
        const { changes } = out[values[0] as number]!;
        const seq = values[1] as number;
        if (changes.length > 0 && changes.at(-1)!.change.seq > seq) sorted = false;
        const change = {
          seq,
          type: values[2] as InboxChangeRecord['type'],
          itemId: values[3] as string | null,
          createdAt: values[4] as number,
        };
        changes.push({ change, item: values[6] === null ? null : toMessage(messageRowOf(values, 5)) });
      }
      if (!sorted) for (const { changes } of out) changes.sort((a, b) => a.change.seq - b.change.seq);
      return out;
    },
    async lastInboxChange(tenantId, subscriberId) {
      return lastSeq.get({ tenant: tenantId, subscriber: subscriberId }) as number;
    },
    async firstInboxChange(tenantId, subscriberId) {
      return (firstSeq.get(tenantId, subscriberId) as number | null | undefined) ?? null;
    },
    async purgeInboxChanges(before, limit) {
      return purge.immediate(before, limit);
    },
  };
}

export function sqlitePresenceStore(db: Database.Database): PresenceStore {
  const hold = db.prepare(
    `INSERT INTO inbox_presence (tenant_id, subscriber_id, holder, expires_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (tenant_id, subscriber_id, holder) DO UPDATE SET expires_at = excluded.expires_at`,
  );
  const refresh = db.prepare('UPDATE inbox_presence SET expires_at = ? WHERE holder = ?');
  const releaseOne = db.prepare(
    'DELETE FROM inbox_presence WHERE tenant_id = ? AND subscriber_id = ? AND holder = ?',
  );
  const releaseAll = db.prepare('DELETE FROM inbox_presence WHERE holder = ?');
  const online = db
    .prepare(
      `SELECT EXISTS (SELECT 1 FROM inbox_presence WHERE tenant_id = ? AND subscriber_id = ? AND expires_at > ?)`,
    )
    .pluck();
  const purge = db.prepare(
    `DELETE FROM inbox_presence WHERE (tenant_id, subscriber_id, holder) IN
       (SELECT tenant_id, subscriber_id, holder FROM inbox_presence WHERE expires_at < ? LIMIT ?)`,
  );
  const holdAll = db.transaction((holder: string, keys: readonly PresenceKey[], expiresAt: number) => {
    for (const key of keys) hold.run(key.tenantId, key.subscriberId, holder, expiresAt);
  });
  const releaseKeys = db.transaction((holder: string, keys: readonly PresenceKey[]) => {
    for (const key of keys) releaseOne.run(key.tenantId, key.subscriberId, holder);
  });
  return {
    async holdPresence(holder, keys, expiresAt) {
      if (keys.length > 0) holdAll.immediate(holder, keys, expiresAt);
    },
    async refreshPresence(holder, expiresAt) {
      refresh.run(expiresAt, holder);
    },
    async releasePresence(holder, keys) {
      if (keys === null) releaseAll.run(holder);
      else if (keys.length > 0) releaseKeys.immediate(holder, keys);
    },
    async isOnline(tenantId, subscriberId, now) {
      return (online.get(tenantId, subscriberId, now) as number) === 1;
    },
    async purgePresence(before, limit) {
      return purge.run(before, limit).changes;
    },
  };
}
