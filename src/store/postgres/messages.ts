import type pg from 'pg';
import type { PersonalData } from '../../security/personal-data.ts';
import { idFloor } from '../../shared/ids.ts';
import type { Channel, SandboxCapture, SkippedStep } from '../../shared/model.ts';
import { ConsentChangedSinceRead, choicesVersionsRead } from '../consent-guard.ts';
import { ERASURE_CLOCK_MARGIN_MS } from '../personal-data.ts';
import type {
  JobSpec,
  MessageAck,
  MessageFilter,
  MessageStore,
  MessageUpdate,
  NewMessage,
  VariantCount,
} from '../port.ts';
import {
  type DeferredRow,
  EVENT_MESSAGE_COLUMNS,
  MESSAGE_CHANGE_COLUMNS,
  type MessageChangeRow,
  type MessageRow,
  type SandboxCaptureRow,
  type SkippedStepRow,
  toDeferred,
  toEventMessage,
  toMessage,
  toMessageChange,
  toSandboxCapture,
  toSkippedStep,
} from '../rows.ts';
import { WorkflowPausedSinceRead, workflowsBuiltLive } from '../workflow-pause.ts';
import { type Queryable, run, transaction } from './client.ts';
import { writeDigests } from './digests.ts';
import { logInboxChanges } from './inbox.ts';
import { changeOpenPartsFrom, insertJobsFrom, jobsParam, partsParam } from './jobs.ts';
import { asJsonText } from './ordered-json.ts';
import { MESSAGE_BYTES, sizedPage } from './sized-page.ts';

/**
 * The new status ($1) of an update: a message with a receipt keeps it when a send's answer or
 * retry (queued, deferred, sending, sent) arrives after it — the device may report before the
 * provider's answer is recorded.
 */
const RECEIPT_KEEPS = `CASE WHEN status IN ('delivered', 'read', 'clicked') AND $1::TEXT IN ('queued', 'deferred', 'sending', 'sent')
                THEN status ELSE $1::TEXT END`;

/**
 * The skipped steps of a delivery, as one more statement of the createMessages CTE (so in its
 * transaction); only added when there are some, so deliveries without conditions run unchanged.
 */
const insertSkippedFrom = (param: string, where: string) => `,
         s AS (
           INSERT INTO skipped_steps (tenant_id, event_id, subscriber_id, step, channel, reason, created_at)
           SELECT * FROM jsonb_to_recordset(${param}::jsonb) AS r(tenant_id TEXT, event_id TEXT, subscriber_id TEXT,
             step INTEGER, channel TEXT, reason TEXT, created_at BIGINT)
            WHERE ${where}
           ON CONFLICT DO NOTHING)`;

function skippedParam(skipped: SkippedStep[]): string {
  return JSON.stringify(
    skipped.map((s) => ({
      tenant_id: s.tenantId,
      event_id: s.eventId,
      subscriber_id: s.subscriberId,
      step: s.step,
      channel: s.channel,
      reason: s.reason,
      created_at: s.createdAt,
    })),
  );
}

/** listMessages' filter on the messages `t`, from where its page starts, and its parameters. */
function messageFilterSql(filter: MessageFilter): { where: string[]; values: unknown[] } {
  const values: unknown[] = [filter.tenantId];
  const where = ['t.tenant_id = $1'];
  const add = (column: string, value: unknown) => {
    values.push(value);
    where.push(`t.${column} = $${values.length}`);
  };
  if (filter.subscriberId !== undefined) add('subscriber_id', filter.subscriberId);
  if (filter.eventId !== undefined) add('event_id', filter.eventId);
  if (filter.channel !== undefined) add('channel', filter.channel);
  // A literal, so the planner can prove the partial dead-letter index applies.
  if (filter.status === 'dead') where.push(`t.status = 'dead'`);
  else if (filter.status !== undefined) add('status', filter.status);
  if (filter.beforeId !== undefined) where.push(`t.id < $${values.push(filter.beforeId)}`);
  return { where, values };
}

/** listSandboxCaptures' filter on the captures `t`, from where its page starts, and its parameters. */
function captureFilterSql(tenantId: string, channel?: Channel, beforeId?: string) {
  const values: unknown[] = [tenantId];
  const where = ['t.tenant_id = $1'];
  if (channel) where.push(`t.channel = $${values.push(channel)}`);
  if (beforeId !== undefined) where.push(`t.id < $${values.push(beforeId)}`);
  return { where, values };
}

/**
 * The messages of a delivery, the follow-ups of those that are new, its skipped steps and the
 * acknowledged jobs: one statement (so one transaction on its own).
 */
async function insertMessages(
  db: Queryable,
  messages: NewMessage[],
  ack: MessageAck | undefined,
  skipped: SkippedStep[],
  inboxSeqs?: Map<string, number>,
): Promise<string[]> {
  if (messages.length === 0 && !ack && skipped.length === 0) return [];
  const rows = messages.map(({ record: r, subscriberCreatedAt }) => ({
    tenant_id: r.tenantId,
    id: r.id,
    event_id: r.eventId,
    subscriber_id: r.subscriberId,
    channel: r.channel,
    workflow: r.workflow,
    status: r.status,
    provider: r.provider,
    content: r.content,
    data: r.data !== null && typeof r.data === 'object' ? asJsonText(r.data) : r.data,
    timeline: r.timeline,
    event_at: r.eventAt,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    last_error: r.lastError,
    reason: r.reason,
    device_id: r.deviceId ?? '',
    provider_message_id: r.providerMessageId ?? null,
    meta: r.meta ?? {},
    subscriber_since: subscriberCreatedAt ?? null,
  }));
  const followUps: (JobSpec & { tag?: string })[] = messages.flatMap(({ record, followUp, events }) => [
    ...(followUp ? [{ ...followUp, tag: record.id }] : []),
    ...(events ?? []).map((event) => ({ ...event, tag: record.id })),
  ]);
  // The ack's own follow-ups carry no tag: they are queued if an acked job was still ours.
  followUps.push(...(ack?.followUps ?? []));
  const values: unknown[] = [
    JSON.stringify(rows),
    jobsParam(followUps, messages[0]?.record.createdAt),
    ack?.jobIds ?? [],
    ack?.owner ?? '',
  ];
  /** A parameter of the statement, by its `$n`. */
  const param = (value: unknown) => `$${values.push(value)}`;
  // A pause that answered after the delivery read its workflow (and before this statement) stands:
  // when one of the workflows its messages were built live from is paused now, the statement makes
  // nothing (no message, job, skipped step or part: `a` completes no job) and answers the
  // workflows, and the write is refused whole. One read by primary key per workflow. Read, not
  // locked: a share lock on the workflow row would make its PUT wait for every delivery of it
  // under way, and share locks are granted beside one another while the PUT waits, so deliveries
  // that keep overlapping (a broadcast) could hold the kill switch off for as long as they last.
  // A pause committing while this statement runs is not seen: its in-app items are written (its
  // other channels' sends still check the pause before any provider call).
  const live = workflowsBuiltLive(messages);
  const checksPause = live.length > 0;
  const pausedCte = checksPause
    ? `paused AS (
         SELECT w.tenant_id, w.key FROM workflows w
          WHERE (w.tenant_id, w.key) IN (SELECT * FROM unnest(${param(live.map((ref) => ref.tenantId))}::TEXT[],
                                                             ${param(live.map((ref) => ref.key))}::TEXT[]))
            AND (w.paused_reason IS NOT NULL OR w.definition->'paused' = 'true'::jsonb)),
       `
    : '';
  // The same for a change of preferences that answered after the build read the choices of
  // recipients this write delivers to: one read by primary key per tenant, when there are such
  // messages. A change committing while this statement runs is not seen (as for the pause).
  const consentRead = [...choicesVersionsRead(messages)];
  const checksConsent = consentRead.length > 0;
  const movedCte = checksConsent
    ? `moved AS (
         SELECT g.tenant_id FROM unnest(${param(consentRead.map(([tenantId]) => tenantId))}::TEXT[],
                                        ${param(consentRead.map(([, version]) => version))}::BIGINT[]) AS g(tenant_id, version)
           LEFT JOIN consent_versions c ON c.tenant_id = g.tenant_id
          WHERE COALESCE(c.choices, 0) <> g.version),
       `
    : '';
  const nothingChanged =
    [
      ...(checksPause ? ['NOT EXISTS (SELECT 1 FROM paused)'] : []),
      ...(checksConsent ? ['NOT EXISTS (SELECT 1 FROM moved)'] : []),
    ].join(' AND ') || 'TRUE';
  const insertSkipped =
    skipped.length > 0 ? insertSkippedFrom(param(skippedParam(skipped)), nothingChanged) : '';
  // Each open-parts change only if its job was still ours (deleted by `a`).
  const parts = ack?.parts ?? [];
  const changeParts =
    parts.length > 0
      ? `,
       p AS (${changeOpenPartsFrom(param(partsParam(parts)), 'a')})`
      : '';
  // One statement: the messages, the follow-ups of those that are new, and the acknowledged jobs.
  const { rows: created } = await run<{
    id: string;
    seq: string | null;
    paused_tenant: string | null;
    paused_key: string | null;
    moved_tenant: string | null;
  }>(
    db,
    `WITH ${pausedCte}${movedCte}m AS (
         INSERT INTO messages (tenant_id, id, event_id, subscriber_id, channel, workflow, status, provider,
           content, data, timeline, event_at, created_at, updated_at, last_error, reason, device_id,
           provider_message_id, meta)
         SELECT tenant_id, id, event_id, subscriber_id, channel, workflow, status, provider, content, data,
           timeline, event_at, created_at, updated_at, last_error, reason, device_id, provider_message_id, meta
           FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id TEXT, id TEXT, event_id TEXT,
           subscriber_id TEXT, channel TEXT, workflow TEXT, status TEXT, provider TEXT, content JSONB,
           data JSONB, timeline JSONB, event_at BIGINT, created_at BIGINT, updated_at BIGINT, last_error TEXT, reason TEXT,
           device_id TEXT, provider_message_id TEXT, meta JSONB, subscriber_since BIGINT)
          -- Only while the recipient is still the subscriber read (NewMessage.subscriberCreatedAt),
          -- checked one by one only in a tenant where an erasure began since the build; the share
          -- lock holds an erasure's delete of them until this commits, so its erasure sees these.
          WHERE (r.subscriber_since IS NULL
             OR NOT EXISTS (SELECT 1 FROM erasures e
                             WHERE e.tenant_id = r.tenant_id AND e.last_at >= r.created_at - ${ERASURE_CLOCK_MARGIN_MS})
             OR EXISTS (SELECT 1 FROM subscribers s
                         WHERE s.tenant_id = r.tenant_id AND s.id = r.subscriber_id AND s.created_at = r.subscriber_since
                         FOR KEY SHARE))
          -- Not once the event is cancelled: a cancel that answered before this write stops it (an
          -- in-app item written now would be delivered after the cancel). Read, not locked: a share
          -- lock here deadlocked with the FOR UPDATE the same statement takes on the event to count
          -- its parts, when two pages of one broadcast commit together. A cancel committing while
          -- this statement runs is not seen (its sends still check it before any provider call).
            AND NOT EXISTS (SELECT 1 FROM events ev
                             WHERE ev.tenant_id = r.tenant_id AND ev.id = r.event_id AND ev.status = 'cancelled')
            AND ${nothingChanged}
         ON CONFLICT DO NOTHING
         RETURNING id, tenant_id, subscriber_id, channel, status, created_at),
       -- New inbox items are changes their subscribers' streams replay (src/store/postgres/inbox.ts).
       items AS (SELECT tenant_id, subscriber_id, id AS item_id, created_at AS at FROM m
                  WHERE channel = 'in_app' AND status = 'delivered'),
       ${logInboxChanges('items', `'item.created'`)},
       a AS (DELETE FROM jobs WHERE id = ANY($3::BIGINT[]) AND lease_owner = $4 AND ${nothingChanged} RETURNING id),
       f AS (${insertJobsFrom('$2', 'CASE WHEN j.tag IS NULL THEN EXISTS (SELECT 1 FROM a) ELSE j.tag IN (SELECT id FROM m) END')})${insertSkipped}${changeParts}
       SELECT m.id, items_l.seq, NULL AS paused_tenant, NULL AS paused_key, NULL AS moved_tenant
         FROM m LEFT JOIN items_l ON items_l.item_id = m.id${
           checksPause ? ' UNION ALL SELECT NULL, NULL, tenant_id, key, NULL FROM paused' : ''
         }${checksConsent ? ' UNION ALL SELECT NULL, NULL, NULL, NULL, tenant_id FROM moved' : ''}`,
    values,
  );
  const paused = created.filter((r) => r.paused_key !== null);
  if (paused.length > 0)
    throw new WorkflowPausedSinceRead(
      paused.map((r) => ({ tenantId: r.paused_tenant!, key: r.paused_key! })),
    );
  const moved = created.filter((r) => r.moved_tenant !== null);
  if (moved.length > 0) throw new ConsentChangedSinceRead(moved.map((r) => r.moved_tenant!));
  if (inboxSeqs) for (const r of created) if (r.seq !== null) inboxSeqs.set(r.id, Number(r.seq));
  const ids = new Set(created.map((r) => r.id));
  return messages.filter((m) => ids.has(m.record.id)).map((m) => m.record.id);
}

export function postgresMessageStore(db: pg.Pool, personal: PersonalData): MessageStore {
  /** A status change with its timeline entries and follow-up (only from `onlyFrom`, when given). */
  async function applyUpdate(tenantId: string, id: string, update: MessageUpdate, on: Queryable = db) {
    const { rows } = await run<{ n: number }>(
      on,
      `WITH u AS (
         UPDATE messages SET status = ${RECEIPT_KEEPS}, provider = COALESCE($2, provider), last_error = $3, updated_at = $4,
                reason = CASE WHEN $10::BOOLEAN THEN $11::TEXT ELSE reason END,
                provider_message_id = COALESCE($12::TEXT, provider_message_id),
                meta = meta || $13::jsonb,
                timeline = timeline || $5::jsonb
          WHERE tenant_id = $6 AND id = $7 AND ($9::TEXT[] IS NULL OR status = ANY($9::TEXT[])) RETURNING 1),
       f AS (${insertJobsFrom('$8', 'EXISTS (SELECT 1 FROM u)')}),
       done AS (DELETE FROM jobs WHERE id = ANY($14::BIGINT[]) AND lease_owner = $15)
       SELECT count(*)::INT AS n FROM u`,
      [
        update.status,
        update.provider ?? null,
        update.lastError ?? null,
        update.now,
        JSON.stringify(update.append),
        tenantId,
        id,
        jobsParam([...(update.followUp ? [update.followUp] : []), ...(update.events ?? [])], update.now),
        update.onlyFrom ?? null,
        update.reason !== undefined,
        update.reason ?? null,
        update.providerMessageId ?? null,
        JSON.stringify(update.meta ?? {}),
        update.ack?.jobIds ?? [],
        update.ack?.owner ?? '',
      ],
    );
    return rows[0]!.n > 0;
  }

  return {
    async createMessages(messages, ack, skipped = [], digests, inboxSeqs) {
      if (!digests || (!digests.joins?.length && !digests.finished?.length))
        return insertMessages(db, messages, ack, skipped, inboxSeqs);
      // Digest writes take several statements: one transaction holds them and the messages.
      return transaction(db, async (client) => {
        await writeDigests(client, digests, ack);
        return insertMessages(client, messages, ack, skipped, inboxSeqs);
      });
    },
    async variantCounts(tenantId, workflow) {
      const { rows } = await run<{ variant: string; status: VariantCount['status']; count: string }>(
        db,
        `SELECT meta->>'variant' AS variant, status, COUNT(*) AS count FROM messages
          WHERE tenant_id = $1 AND workflow = $2 AND meta ? 'variant' AND meta->>'variant' IS NOT NULL
          GROUP BY 1, 2 ORDER BY 1, 2`,
        [tenantId, workflow],
      );
      return rows.map((row) => ({ variant: row.variant, status: row.status, count: Number(row.count) }));
    },
    async listSkippedSteps(tenantId, eventId, limit) {
      const { rows } = await run<SkippedStepRow>(
        db,
        `SELECT * FROM skipped_steps WHERE tenant_id = $1 AND event_id = $2 ORDER BY subscriber_id, step LIMIT $3`,
        [tenantId, eventId, limit],
      );
      return rows.map(toSkippedStep);
    },
    async getMessage(tenantId, id) {
      const { rows } = await run<MessageRow>(db, 'SELECT * FROM messages WHERE tenant_id = $1 AND id = $2', [
        tenantId,
        id,
      ]);
      return rows[0] ? toMessage(rows[0]) : null;
    },
    async getMessages(tenantId, ids) {
      if (ids.length === 0) return [];
      const { rows } = await run<MessageRow>(
        db,
        'SELECT * FROM messages WHERE tenant_id = $1 AND id = ANY($2::TEXT[])',
        [tenantId, ids],
      );
      return rows.map(toMessage);
    },
    async messageChanges(query) {
      // The primary key's range of ids bounds the read (ids sort by creation time).
      const { rows } = await run<MessageChangeRow>(
        db,
        `SELECT ${MESSAGE_CHANGE_COLUMNS} FROM messages
         WHERE tenant_id = $1 AND id >= $2 AND updated_at >= $3 AND ($4::text IS NULL OR workflow = $4)
         ORDER BY updated_at, id LIMIT $5`,
        [
          query.tenantId,
          idFloor('msg', query.createdFrom),
          query.changedFrom,
          query.workflow ?? null,
          query.limit,
        ],
      );
      return rows.map(toMessageChange);
    },
    async deferredMessages(tenantId, subscriberId, createdFrom, limit) {
      const { rows } = await run<DeferredRow>(
        db,
        `SELECT m.id, m.subscriber_id, m.channel, e.priority AS lane FROM messages m
           JOIN events e ON e.tenant_id = m.tenant_id AND e.id = m.event_id
          WHERE m.tenant_id = $1 AND m.subscriber_id = $2 AND m.id >= $3 AND m.status = 'deferred'
          ORDER BY m.id LIMIT $4`,
        [tenantId, subscriberId, idFloor('msg', createdFrom), limit],
      );
      return rows.map((row) => toDeferred(tenantId, row));
    },
    async listEventMessages(tenantId, eventId, { beforeId, limit }) {
      const before = beforeId === undefined ? '' : ' AND id < $4';
      const { rows } = await run<Parameters<typeof toEventMessage>[0]>(
        db,
        `SELECT ${EVENT_MESSAGE_COLUMNS} FROM messages
          WHERE tenant_id = $1 AND event_id = $2${before} ORDER BY id DESC LIMIT $3`,
        beforeId === undefined ? [tenantId, eventId, limit] : [tenantId, eventId, limit, beforeId],
      );
      return rows.map(toEventMessage);
    },
    async listMessages(filter) {
      const { where, values } = messageFilterSql(filter);
      const { rows } = await run<MessageRow>(
        db,
        `SELECT * FROM messages t WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $${values.push(filter.limit)}`,
        values,
      );
      return rows.map(toMessage);
    },
    async pageMessages(filter) {
      const { where, values } = messageFilterSql(filter);
      const list = { table: 'messages', where: where.join(' AND '), order: 't.id DESC', values };
      return sizedPage(db, { ...list, bytes: MESSAGE_BYTES }, filter, toMessage);
    },
    async updateMessage(tenantId, id, update) {
      return applyUpdate(tenantId, id, update);
    },
    async updateMessages(updates) {
      if (updates.length <= 1) {
        return Promise.all(updates.map((u) => applyUpdate(u.tenantId, u.id, u.update)));
      }
      return transaction(db, async (client) => {
        const changed: boolean[] = [];
        for (const u of updates) changed.push(await applyUpdate(u.tenantId, u.id, u.update, client));
        return changed;
      });
    },
    async replayDeadMessage(tenantId, id, update) {
      return applyUpdate(tenantId, id, { ...update, onlyFrom: ['dead'] });
    },
    async recordReceipt(write) {
      // An in-app message read (or clicked) by a receipt is read in the inbox too. When nothing
      // changes, the row is read as it stood (the statement's snapshot).
      const { rows } = await run<MessageRow & { changed: boolean }>(
        db,
        `WITH u AS (
           UPDATE messages SET status = $3, updated_at = $5,
                  read_at = CASE WHEN channel = 'in_app' AND $6 THEN COALESCE(read_at, $5) ELSE read_at END,
                  seen_at = CASE WHEN channel = 'in_app' AND $6 THEN COALESCE(seen_at, $5) ELSE seen_at END,
                  timeline = timeline || jsonb_build_array($7::jsonb)
            WHERE tenant_id = $1 AND id = $2 AND ($4::TEXT IS NULL OR subscriber_id = $4)
              AND status = ANY($8::TEXT[])
           RETURNING *),
         f AS (${insertJobsFrom('$9', 'EXISTS (SELECT 1 FROM u)')}),
         -- A receipt that reads an inbox item is a change its subscriber's streams replay.
         receipted AS (SELECT tenant_id, subscriber_id, id AS item_id, $5::BIGINT AS at FROM u WHERE channel = 'in_app'),
         ${logInboxChanges('receipted', `'item.updated'`)}
         SELECT *, TRUE AS changed FROM u
         UNION ALL
         SELECT *, FALSE AS changed FROM messages
          WHERE tenant_id = $1 AND id = $2 AND ($4::TEXT IS NULL OR subscriber_id = $4)
            AND NOT EXISTS (SELECT 1 FROM u)`,
        [
          write.tenantId,
          write.id,
          write.receipt,
          write.subscriberId,
          write.now,
          write.receipt !== 'delivered',
          JSON.stringify(write.entry),
          write.from,
          jobsParam(write.followUp ? [write.followUp] : [], write.now),
        ],
      );
      const row = rows[0];
      return row ? { message: toMessage(row), changed: row.changed } : null;
    },
    async markEscalated(tenantId, ids, entry, now) {
      if (ids.length === 0) return 0;
      const result = await run(
        db,
        `UPDATE messages SET escalated = TRUE, updated_at = $3, timeline = timeline || jsonb_build_array($4::jsonb)
          WHERE tenant_id = $1 AND id = ANY($2::TEXT[]) AND NOT escalated`,
        [tenantId, ids, now, JSON.stringify(entry)],
      );
      return result.rowCount ?? 0;
    },
    async saveSandboxCapture(c: SandboxCapture) {
      await run(
        db,
        `INSERT INTO sandbox_captures (tenant_id, id, message_id, channel, recipient, content, created_at)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)`,
        [
          c.tenantId,
          c.id,
          c.messageId,
          c.channel,
          personal.sealNullable(c.to),
          JSON.stringify(c.content),
          c.createdAt,
        ],
      );
    },
    async pageSandboxCaptures(page) {
      const { where, values } = captureFilterSql(page.tenantId, page.channel, page.beforeId);
      return sizedPage(
        db,
        {
          table: 'sandbox_captures',
          where: where.join(' AND '),
          order: 't.id DESC',
          values,
          bytes: 'octet_length(t.content::TEXT)',
        },
        page,
        (row: SandboxCaptureRow) => toSandboxCapture(row, personal),
      );
    },
    async listSandboxCaptures(tenantId, limit, channel?: Channel, beforeId?: string) {
      const { where, values } = captureFilterSql(tenantId, channel, beforeId);
      const { rows } = await run<SandboxCaptureRow>(
        db,
        `SELECT * FROM sandbox_captures t WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $${values.push(limit)}`,
        values,
      );
      return rows.map((row) => toSandboxCapture(row, personal));
    },
  };
}
