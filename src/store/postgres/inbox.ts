import type pg from 'pg';
import {
  INBOX_TIMELINE_ROOM,
  type InboxCatchUp,
  type InboxChangeRecord,
  type InboxMark,
  type InboxPage,
  type InboxStore,
  type PresenceStore,
} from '../port.ts';
import { MARKED_ITEM_COLUMNS, type MessageRow, toMarkedItem, toMessage } from '../rows.ts';
import { run, transaction } from './client.ts';
import { insertJobsFrom, jobsParam } from './jobs.ts';
import { MESSAGE_BYTES, sizedPage } from './sized-page.ts';

/** In-app messages that never reached the inbox (failed, suppressed…) are not inbox items. */
const IS_ITEM = `channel = 'in_app' AND status NOT IN ('failed', 'suppressed', 'cancelled', 'rate_limited')`;

/** Whether the timeline has room for an entry that moves no status (INBOX_TIMELINE_ROOM). */
const HAS_ROOM = `jsonb_array_length(timeline) < ${INBOX_TIMELINE_ROOM}`;

/**
 * CTEs (to follow others in a WITH) that append one change of `type` (an SQL expression) per row
 * of `source` — rows (tenant_id, subscriber_id, item_id, at) — to the subscribers' change logs, in
 * the statement that makes the changes. Each subscriber's counter row is bumped once by the number
 * of its changes (in key order, so two statements never wait on each other's rows crosswise); its
 * lock, held to commit, queues other writers of that subscriber, so numbers follow commit order.
 * `${source}_l` answers (item_id, seq) of the changes logged.
 */
export function logInboxChanges(source: string, type: string): string {
  return `
    ${source}_n AS (
      SELECT tenant_id, subscriber_id, item_id, at,
             row_number() OVER (PARTITION BY tenant_id, subscriber_id ORDER BY item_id) AS k,
             count(*) OVER (PARTITION BY tenant_id, subscriber_id) AS n
        FROM ${source}),
    ${source}_c AS (
      INSERT INTO inbox_cursors (tenant_id, subscriber_id, last_seq)
      SELECT DISTINCT tenant_id, subscriber_id, n FROM ${source}_n ORDER BY tenant_id, subscriber_id
      ON CONFLICT (tenant_id, subscriber_id) DO UPDATE SET last_seq = inbox_cursors.last_seq + EXCLUDED.last_seq
      RETURNING tenant_id, subscriber_id, last_seq),
    ${source}_l AS (
      INSERT INTO inbox_changes (tenant_id, subscriber_id, seq, type, item_id, created_at)
      SELECT n.tenant_id, n.subscriber_id, c.last_seq - n.n + n.k, ${type}, n.item_id, n.at
        FROM ${source}_n n JOIN ${source}_c c USING (tenant_id, subscriber_id)
      RETURNING item_id, seq)`;
}

const entryJson = (now: number, status: string, detail?: string) =>
  JSON.stringify({ at: new Date(now).toISOString(), status, ...(detail ? { detail } : {}) });

/** listInbox's filter on the messages `t`, from where its page starts, and its parameters. */
function inboxFilterSql(page: InboxPage): { where: string[]; values: unknown[] } {
  const values: unknown[] = [page.tenantId, page.subscriberId, !page.archived];
  const where = [
    't.tenant_id = $1',
    't.subscriber_id = $2',
    IS_ITEM,
    '(t.archived_at IS NULL) = $3',
    't.snoozed_until IS NULL',
  ];
  if (page.status === 'unread') where.push('t.read_at IS NULL');
  else if (page.status === 'read') where.push('t.read_at IS NOT NULL');
  if (page.categories) {
    values.push([...page.categories]);
    where.push(`t.workflow IN (SELECT key FROM workflows WHERE tenant_id = $1
      AND definition->>'category' = ANY($${values.length}::TEXT[]))`);
  }
  if (page.before) {
    values.push(page.before.eventAt, page.before.id);
    const at = values.length - 1;
    where.push(`(t.event_at < $${at} OR (t.event_at = $${at} AND t.id < $${at + 1}))`);
  }
  return { where, values };
}

const INBOX_ORDER = 't.event_at DESC, t.id DESC';

export function postgresInboxStore(db: pg.Pool): InboxStore {
  return {
    async listInbox(page) {
      const { where, values } = inboxFilterSql(page);
      const { rows } = await run<MessageRow>(
        db,
        `SELECT * FROM messages t WHERE ${where.join(' AND ')}
         ORDER BY ${INBOX_ORDER} LIMIT $${values.push(page.limit)}`,
        values,
      );
      return rows.map(toMessage);
    },
    async pageInbox(page) {
      const { where, values } = inboxFilterSql(page);
      const list = { table: 'messages', where: where.join(' AND '), order: INBOX_ORDER, values };
      return sizedPage(db, { ...list, bytes: MESSAGE_BYTES }, page, toMessage);
    },
    async countUnread(tenantId, subscriberId) {
      const { rows } = await run<{ n: number }>(
        db,
        `SELECT count(*)::INT AS n FROM messages WHERE tenant_id = $1 AND subscriber_id = $2 AND ${IS_ITEM}
           AND read_at IS NULL AND archived_at IS NULL AND snoozed_until IS NULL`,
        [tenantId, subscriberId],
      );
      return rows[0]!.n;
    },
    async countUnreadByCategory(tenantId, subscriberId) {
      const { rows } = await run<{ category: string | null; n: number }>(
        db,
        `SELECT w.definition->>'category' AS category, count(*)::INT AS n
           FROM messages m LEFT JOIN workflows w ON w.tenant_id = m.tenant_id AND w.key = m.workflow
          WHERE m.tenant_id = $1 AND m.subscriber_id = $2 AND m.channel = 'in_app'
            AND m.status NOT IN ('failed', 'suppressed', 'cancelled', 'rate_limited')
            AND m.read_at IS NULL AND m.archived_at IS NULL AND m.snoozed_until IS NULL
          GROUP BY 1`,
        [tenantId, subscriberId],
      );
      return new Map(rows.map((r) => [r.category, r.n]));
    },
    async markInbox(tenantId, subscriberId, id, mark: InboxMark, now, detail) {
      // Reading, archiving and clicking read the item. SET expressions see the row as it was.
      const reads = mark === 'read' || mark === 'archive' || mark === 'click';
      const { rows } = await run<MessageRow>(
        db,
        `WITH u AS (
           UPDATE messages SET
             seen_at = CASE WHEN $9 THEN seen_at ELSE COALESCE(seen_at, $4) END,
             read_at = CASE WHEN $9 THEN NULL WHEN $5 THEN COALESCE(read_at, $4) ELSE read_at END,
             archived_at = CASE WHEN $6 THEN COALESCE(archived_at, $4) ELSE archived_at END,
             status = CASE
               WHEN $10 AND status IN ('delivered', 'sent', 'read') THEN 'clicked'
               WHEN $5 AND read_at IS NULL AND status IN ('delivered', 'sent') THEN 'read'
               ELSE status END,
             -- An entry that moves the status always goes in; a repeat only while there is room.
             timeline = timeline
               || CASE WHEN $5 AND read_at IS NULL AND (status IN ('delivered', 'sent') OR ${HAS_ROOM})
                    THEN jsonb_build_array($7::jsonb) ELSE '[]'::jsonb END
               || CASE WHEN $6 AND archived_at IS NULL THEN jsonb_build_array($8::jsonb) ELSE '[]'::jsonb END
               || CASE WHEN $10 AND (status IN ('delivered', 'sent', 'read') OR ${HAS_ROOM})
                    THEN jsonb_build_array($11::jsonb) ELSE '[]'::jsonb END,
             updated_at = $4
           WHERE tenant_id = $1 AND id = $2 AND subscriber_id = $3 AND channel = 'in_app'
           RETURNING *),
         src AS (SELECT tenant_id, subscriber_id, id AS item_id, $4::BIGINT AS at FROM u),
         ${logInboxChanges('src', `'item.updated'`)}
         SELECT * FROM u`,
        [
          tenantId,
          id,
          subscriberId,
          now,
          reads,
          mark === 'archive',
          entryJson(now, 'read', `inbox ${mark}`),
          entryJson(now, 'archived', 'inbox archive'),
          mark === 'unread',
          mark === 'click',
          entryJson(now, 'clicked', detail ?? 'inbox click'),
        ],
      );
      return rows[0] ? toMessage(rows[0]) : null;
    },
    async markAllInbox(tenantId, subscriberId, mark, now) {
      const update =
        mark === 'seen'
          ? `UPDATE messages SET seen_at = $3, updated_at = $3
              WHERE tenant_id = $1 AND subscriber_id = $2 AND ${IS_ITEM} AND seen_at IS NULL
                AND snoozed_until IS NULL
              RETURNING ${MARKED_ITEM_COLUMNS}`
          : `UPDATE messages SET read_at = $3, seen_at = COALESCE(seen_at, $3), updated_at = $3,
                status = CASE WHEN status IN ('delivered', 'sent') THEN 'read' ELSE status END,
                timeline = CASE WHEN status IN ('delivered', 'sent') OR ${HAS_ROOM}
                  THEN timeline || jsonb_build_array($4::jsonb) ELSE timeline END
              WHERE tenant_id = $1 AND subscriber_id = $2 AND ${IS_ITEM}
                AND read_at IS NULL AND archived_at IS NULL AND snoozed_until IS NULL
              RETURNING ${MARKED_ITEM_COLUMNS}`;
      const { rows } = await run<MessageRow>(
        db,
        `WITH u AS (${update}),
         src AS (SELECT $1::TEXT AS tenant_id, $2::TEXT AS subscriber_id, NULL::TEXT AS item_id, $3::BIGINT AS at
                  WHERE EXISTS (SELECT 1 FROM u)),
         ${logInboxChanges('src', `'inbox.${mark}-all'`)}
         SELECT * FROM u`,
        mark === 'seen'
          ? [tenantId, subscriberId, now]
          : [tenantId, subscriberId, now, entryJson(now, 'read', 'inbox read-all')],
      );
      return rows.map(toMarkedItem);
    },
    async snoozeInbox(tenantId, subscriberId, id, until, wake, now) {
      return transaction(db, async (client) => {
        const { rows } = await run<MessageRow>(
          client,
          `WITH u AS (
             UPDATE messages SET snoozed_until = $4, updated_at = $5,
               timeline = CASE WHEN ${HAS_ROOM} THEN timeline || jsonb_build_array($6::jsonb) ELSE timeline END
              WHERE tenant_id = $1 AND id = $2 AND subscriber_id = $3 AND channel = 'in_app'
              RETURNING *),
           src AS (SELECT tenant_id, subscriber_id, id AS item_id, $5::BIGINT AS at FROM u),
           ${logInboxChanges('src', `'item.updated'`)}
           SELECT * FROM u`,
          [
            tenantId,
            id,
            subscriberId,
            until,
            now,
            entryJson(now, 'snoozed', `until ${new Date(until).toISOString()}`),
          ],
        );
        if (!rows[0]) return null;
        // The item's wake job, if still waiting (not running, not gone), moves to this snooze: one
        // job per item however often it is snoozed (migration 044); its attempts start again. Its
        // payload must name the item (a job id may be handed out again after a transfer). A
        // statement of its own, after the one above locked the item: its snapshot then holds the
        // job of a snooze of the item that committed meanwhile, which a single statement's
        // (taken before it waited for the lock) would miss, queueing a second job beside it.
        await run(
          client,
          `WITH moved AS (
             UPDATE jobs SET run_at = $3, payload = $4::jsonb, attempts = 0, last_error = NULL
              WHERE id = (SELECT wake_job_id FROM messages WHERE tenant_id = $1 AND id = $2)
                AND tenant_id = $1 AND kind = $5 AND state = 'ready' AND payload->>'itemId' = $2
              RETURNING id),
           added AS (${insertJobsFrom('$6', 'NOT EXISTS (SELECT 1 FROM moved)')} RETURNING id)
           UPDATE messages SET wake_job_id = (SELECT id FROM added)
            WHERE tenant_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM added)`,
          [
            tenantId,
            id,
            wake.runAt ?? now,
            JSON.stringify(wake.payload ?? null),
            wake.kind,
            jobsParam([wake], now),
          ],
        );
        return toMessage(rows[0]);
      });
    },
    async wakeSnoozed(tenantId, id, until, now) {
      const { rows } = await run<MessageRow>(
        db,
        `WITH u AS (
           UPDATE messages SET snoozed_until = NULL, seen_at = NULL, read_at = NULL, updated_at = $4
            WHERE tenant_id = $1 AND id = $2 AND snoozed_until = $3
            RETURNING *),
         src AS (SELECT tenant_id, subscriber_id, id AS item_id, $4::BIGINT AS at FROM u),
         ${logInboxChanges('src', `'item.created'`)}
         SELECT * FROM u`,
        [tenantId, id, until, now],
      );
      return rows[0] ? toMessage(rows[0]) : null;
    },
    async catchUpInboxes(tenantId, cursors, limit) {
      if (cursors.length === 0) return [];
      // One statement, so one snapshot: the counts are those of the log as far as the pages reach
      // (a stream that read to the end of its log carries the count on: inbox/session.ts). Each
      // distinct subscriber's count is one index range; each cursor's page goes through the log's
      // primary key, its items through theirs. A cursor with nothing new comes back as one row
      // without a change.
      const { rows } = await run<
        MessageRow & {
          q_i: string;
          q_n: number;
          c_seq: number | null;
          c_type: InboxChangeRecord['type'];
          c_item: string | null;
          c_created: number;
        }
      >(
        db,
        `WITH q AS (SELECT * FROM unnest($2::TEXT[], $3::BIGINT[]) WITH ORDINALITY AS q(subscriber_id, after_seq, i)),
              u AS (SELECT subscriber_id, count(*)::INT AS n FROM messages
                     WHERE tenant_id = $1 AND subscriber_id IN (SELECT subscriber_id FROM q) AND ${IS_ITEM}
                       AND read_at IS NULL AND archived_at IS NULL AND snoozed_until IS NULL
                     GROUP BY subscriber_id)
         SELECT q.i AS q_i, COALESCE(u.n, 0) AS q_n, c.seq AS c_seq, c.type AS c_type, c.item_id AS c_item,
                c.created_at AS c_created, m.*
           FROM q
           LEFT JOIN u ON u.subscriber_id = q.subscriber_id
           LEFT JOIN LATERAL (
             SELECT seq, type, item_id, created_at FROM inbox_changes
              WHERE tenant_id = $1 AND subscriber_id = q.subscriber_id AND seq > q.after_seq
              ORDER BY seq LIMIT $4) c ON TRUE
           LEFT JOIN messages m ON m.tenant_id = $1 AND m.id = c.item_id
          ORDER BY q.i, c.seq`,
        [tenantId, cursors.map((c) => c.subscriberId), cursors.map((c) => c.afterSeq), limit],
      );
      const out: InboxCatchUp[] = cursors.map(() => ({ changes: [], unreadCount: 0 }));
      for (const row of rows) {
        const page = out[Number(row.q_i) - 1]!;
        page.unreadCount = row.q_n;
        if (row.c_seq === null) continue;
        page.changes.push({
          change: {
            seq: Number(row.c_seq),
            type: row.c_type,
            itemId: row.c_item,
            createdAt: Number(row.c_created),
          },
          item: row.id === null ? null : toMessage(row),
        });
      }
      return out;
    },
    async lastInboxChange(tenantId, subscriberId) {
      const { rows } = await run<{ last_seq: number }>(
        db,
        'SELECT last_seq FROM inbox_cursors WHERE tenant_id = $1 AND subscriber_id = $2',
        [tenantId, subscriberId],
      );
      return rows[0]?.last_seq ?? 0;
    },
    async firstInboxChange(tenantId, subscriberId) {
      const { rows } = await run<{ first: number | null }>(
        db,
        'SELECT MIN(seq) AS first FROM inbox_changes WHERE tenant_id = $1 AND subscriber_id = $2',
        [tenantId, subscriberId],
      );
      return rows[0]?.first === null || rows[0]?.first === undefined ? null : Number(rows[0].first);
    },
    async purgeInboxChanges(before, limit) {
      const result = await run(
        db,
        `DELETE FROM inbox_changes WHERE ctid IN (SELECT ctid FROM inbox_changes WHERE created_at < $1 LIMIT $2)`,
        [before, limit],
      );
      return result.rowCount ?? 0;
    },
  };
}

export function postgresPresenceStore(db: pg.Pool): PresenceStore {
  return {
    async holdPresence(holder, keys, expiresAt) {
      if (keys.length === 0) return;
      await run(
        db,
        `INSERT INTO inbox_presence (tenant_id, subscriber_id, holder, expires_at)
         SELECT DISTINCT t, s, $3, $4::BIGINT FROM unnest($1::TEXT[], $2::TEXT[]) AS k(t, s)
         ON CONFLICT (tenant_id, subscriber_id, holder) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
        [keys.map((k) => k.tenantId), keys.map((k) => k.subscriberId), holder, expiresAt],
      );
    },
    async refreshPresence(holder, expiresAt) {
      await run(db, 'UPDATE inbox_presence SET expires_at = $2 WHERE holder = $1', [holder, expiresAt]);
    },
    async releasePresence(holder, keys) {
      if (keys === null) {
        await run(db, 'DELETE FROM inbox_presence WHERE holder = $1', [holder]);
        return;
      }
      if (keys.length === 0) return;
      await run(
        db,
        `DELETE FROM inbox_presence WHERE holder = $3
           AND (tenant_id, subscriber_id) IN (SELECT * FROM unnest($1::TEXT[], $2::TEXT[]))`,
        [keys.map((k) => k.tenantId), keys.map((k) => k.subscriberId), holder],
      );
    },
    async isOnline(tenantId, subscriberId, now) {
      const { rows } = await run(
        db,
        `SELECT 1 FROM inbox_presence WHERE tenant_id = $1 AND subscriber_id = $2 AND expires_at > $3 LIMIT 1`,
        [tenantId, subscriberId, now],
      );
      return rows.length > 0;
    },
    async purgePresence(before, limit) {
      const result = await run(
        db,
        `DELETE FROM inbox_presence WHERE ctid IN (SELECT ctid FROM inbox_presence WHERE expires_at < $1 LIMIT $2)`,
        [before, limit],
      );
      return result.rowCount ?? 0;
    },
  };
}
