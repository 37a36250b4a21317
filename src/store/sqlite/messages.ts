import type Database from 'better-sqlite3';
import type { PersonalData } from '../../security/personal-data.ts';
import { idFloor } from '../../shared/ids.ts';
import type { Channel, SandboxCapture, SkippedStep } from '../../shared/model.ts';
import { ConsentChangedSinceRead, choicesVersionsRead } from '../consent-guard.ts';
import { ERASURE_CLOCK_MARGIN_MS } from '../personal-data.ts';
import type {
  DigestWrites,
  MessageAck,
  MessageFilter,
  MessageStore,
  MessageUpdate,
  MessageUpdateOf,
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
import type { DigestStatements } from './digests.ts';
import type { InboxLog } from './inbox.ts';
import type { JobStatements } from './jobs.ts';
import { messageRowBytes, sizedPage } from './sized-page.ts';

const NO_META = Object.freeze({});

/**
 * Room a message that will go to a provider keeps in its row for the send's timeline entries
 * (`sending`, then `sent`: about 200 bytes): trailing spaces after the JSON, which SQLite's JSON
 * functions drop when the first status write rewrites the timeline. Messages are inserted in id
 * order, so their pages are packed full; without the room each of those writes grew its row out
 * of a full page and split it (measured alone: two status writes of a push 45 → 32–35 µs, the
 * insert +2–4 µs).
 */
const SEND_ENTRIES_ROOM = ' '.repeat(224);

/**
 * The new status of an update (bound twice): a message with a receipt keeps it when a send's
 * answer or retry (queued, deferred, sending, sent) arrives after it — the device may report
 * before the provider's answer is recorded.
 */
const RECEIPT_KEEPS = `CASE WHEN status IN ('delivered', 'read', 'clicked') AND ? IN ('queued', 'deferred', 'sending', 'sent')
       THEN status ELSE ? END`;

/** A message that waits for its provider call: its status writes append to its timeline. */
function willBeSent(record: { channel: Channel; status: string }): boolean {
  return record.channel !== 'in_app' && (record.status === 'queued' || record.status === 'deferred');
}

/** The query of listMessages for `filter`: the index it reads is named, so each shape is planned alike. */
export function messageListSql(filter: MessageFilter): string {
  const where = ['tenant_id = @tenantId'];
  if (filter.subscriberId !== undefined) where.push('subscriber_id = @subscriberId');
  if (filter.eventId !== undefined) where.push('event_id = @eventId');
  if (filter.channel !== undefined) where.push('channel = @channel');
  // A literal, so the planner can prove the partial dead-letter index applies.
  if (filter.status === 'dead') where.push(`status = 'dead'`);
  else if (filter.status !== undefined) where.push('status = @status');
  if (filter.beforeId !== undefined) where.push('id < @beforeId');
  // Left alone, the planner walks the primary key to avoid a sort; name the selective index instead.
  // An event and a subscriber: a handful of messages, found exactly by the effectively-once
  // index (the fallback handler asks this per recipient); an event alone: a page of it in id order.
  const index =
    filter.status === 'dead'
      ? ' INDEXED BY messages_dead'
      : filter.eventId !== undefined
        ? filter.subscriberId !== undefined
          ? ' INDEXED BY messages_once'
          : ' INDEXED BY messages_by_event'
        : filter.subscriberId !== undefined
          ? ' INDEXED BY messages_by_subscriber'
          : '';
  return `SELECT * FROM messages${index} WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT @limit`;
}

export function sqliteMessageStore(
  db: Database.Database,
  jobs: JobStatements,
  digests: DigestStatements,
  inbox: InboxLog,
  personal: PersonalData,
): MessageStore {
  const eventCancelled = db
    .prepare(`SELECT 1 FROM events WHERE tenant_id = ? AND id = ? AND status = 'cancelled'`)
    .pluck();
  // Paused by its definition (the kill switch) or by Tidings: isPaused() of src/shared/model.ts.
  const workflowPaused = db
    .prepare(
      `SELECT 1 FROM workflows WHERE tenant_id = ? AND key = ?
          AND (paused_reason IS NOT NULL OR json_extract(definition, '$.paused') IS 1)`,
    )
    .pluck();
  const choicesVersion = db.prepare('SELECT choices FROM consent_versions WHERE tenant_id = ?').pluck();
  const insert = db.prepare(
    `INSERT INTO messages (tenant_id, id, event_id, subscriber_id, channel, workflow, status, provider, content, data,
       timeline, event_at, created_at, updated_at, last_error, reason, device_id, provider_message_id, meta)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  );
  const get = db.prepare('SELECT * FROM messages WHERE tenant_id = ? AND id = ?');
  const subscriberSince = db
    .prepare('SELECT created_at FROM subscribers WHERE tenant_id = ? AND id = ?')
    .pluck();
  const lastErasure = db.prepare('SELECT last_at FROM erasures WHERE tenant_id = ?').pluck();
  const getMany = db.prepare(
    'SELECT * FROM messages WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))',
  );
  const insertSkipped = db.prepare(
    `INSERT INTO skipped_steps (tenant_id, event_id, subscriber_id, step, channel, reason, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const skippedOf = db.prepare(
    `SELECT * FROM skipped_steps WHERE tenant_id = ? AND event_id = ? ORDER BY subscriber_id, step LIMIT ?`,
  );
  // A receipt is never undone by a send's later answer (it may overtake it): see RECEIPT_KEEPS.
  const SET_STATUS = `status = ${RECEIPT_KEEPS}, provider = COALESCE(?, provider), last_error = ?,
       reason = CASE WHEN ? THEN ? ELSE reason END, provider_message_id = COALESCE(?, provider_message_id),
       meta = json_patch(meta, ?), updated_at = ?`;
  // A correlated EXISTS, not `status IN (SELECT …)`: the IN form builds an ephemeral table per
  // execution and made a status change two to three times dearer (BENCHMARKS.md 2026-12-06, night).
  const ONLY_FROM = 'AND EXISTS (SELECT 1 FROM json_each(?) WHERE value = status)';
  const setStatus = db.prepare(`UPDATE messages SET ${SET_STATUS} WHERE tenant_id = ? AND id = ?`);
  const setStatusFrom = db.prepare(
    `UPDATE messages SET ${SET_STATUS} WHERE tenant_id = ? AND id = ? ${ONLY_FROM}`,
  );
  // The common change, one timeline entry, in one statement: the row is rewritten once, not twice.
  const APPEND_ONE = `timeline = json_insert(timeline, '$[#]', json(?))`;
  const setStatusAndAppend = db.prepare(
    `UPDATE messages SET ${SET_STATUS}, ${APPEND_ONE} WHERE tenant_id = ? AND id = ?`,
  );
  const setStatusAndAppendFrom = db.prepare(
    `UPDATE messages SET ${SET_STATUS}, ${APPEND_ONE} WHERE tenant_id = ? AND id = ? ${ONLY_FROM}`,
  );
  const append = db.prepare(
    `UPDATE messages SET timeline = json_insert(timeline, '$[#]', json(?)) WHERE tenant_id = ? AND id = ?`,
  );
  // An in-app message read (or clicked) by a receipt is read in the inbox too.
  const receipt = db.prepare(
    `UPDATE messages SET status = @receipt, updated_at = @now,
       read_at = CASE WHEN channel = 'in_app' AND @reads THEN COALESCE(read_at, @now) ELSE read_at END,
       seen_at = CASE WHEN channel = 'in_app' AND @reads THEN COALESCE(seen_at, @now) ELSE seen_at END,
       timeline = json_insert(timeline, '$[#]', json(@entry))
     WHERE tenant_id = @tenantId AND id = @id AND (@subscriberId IS NULL OR subscriber_id = @subscriberId)
       AND EXISTS (SELECT 1 FROM json_each(@from) WHERE value = status)`,
  );
  const getOf = db.prepare(
    'SELECT * FROM messages WHERE tenant_id = @tenantId AND id = @id AND (@subscriberId IS NULL OR subscriber_id = @subscriberId)',
  );
  const escalate = db.prepare(
    `UPDATE messages SET escalated = 1, updated_at = @now, timeline = json_insert(timeline, '$[#]', json(@entry))
     WHERE tenant_id = @tenantId AND id IN (SELECT value FROM json_each(@ids)) AND escalated = 0`,
  );
  const capture = db.prepare(
    `INSERT INTO sandbox_captures (tenant_id, id, message_id, channel, recipient, content, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  // One statement per shape (a channel or not, a page after the first or not): each planned alike.
  const capturesSql = (channel: boolean, before: boolean) =>
    `SELECT * FROM sandbox_captures WHERE tenant_id = @tenantId${channel ? ' AND channel = @channel' : ''}${
      before ? ' AND id < @beforeId' : ''
    } ORDER BY id DESC LIMIT @limit`;
  const captures = [false, true].map((channel) =>
    [false, true].map((before) => db.prepare(capturesSql(channel, before))),
  );
  const capturesOf = (channel: Channel | undefined, beforeId: string | undefined) =>
    captures[channel ? 1 : 0]![beforeId === undefined ? 0 : 1]!;
  const eventMessagesSql = (before: string) =>
    `SELECT ${EVENT_MESSAGE_COLUMNS} FROM messages INDEXED BY messages_by_event
      WHERE tenant_id = @tenantId AND event_id = @eventId${before} ORDER BY id DESC LIMIT @limit`;
  const eventMessages = db.prepare(eventMessagesSql(''));
  const eventMessagesBefore = db.prepare(eventMessagesSql(' AND id < @beforeId'));
  const listCache = new Map<string, Database.Statement>();
  const listStatement = (filter: MessageFilter) => {
    const sql = messageListSql(filter);
    let statement = listCache.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      listCache.set(sql, statement);
    }
    return statement;
  };
  // The primary key's range of ids bounds the read (ids sort by creation): see messageChanges.
  const changes = db.prepare(
    `SELECT ${MESSAGE_CHANGE_COLUMNS} FROM messages
     WHERE tenant_id = @tenantId AND id >= @idFrom AND updated_at >= @changedFrom
       AND (@workflow IS NULL OR workflow = @workflow)
     ORDER BY updated_at, id LIMIT @limit`,
  );
  const deferred = db.prepare(
    `SELECT m.id, m.subscriber_id, m.channel, e.priority AS lane FROM messages m INDEXED BY messages_by_subscriber
       JOIN events e ON e.tenant_id = m.tenant_id AND e.id = m.event_id
      WHERE m.tenant_id = @tenantId AND m.subscriber_id = @subscriberId AND m.id >= @idFrom
        AND m.status = 'deferred'
      ORDER BY m.id LIMIT @limit`,
  );

  /** A status change with its timeline entries and follow-up (only from `onlyFrom`, when given). */
  function change(tenantId: string, id: string, update: MessageUpdate): boolean {
    if (update.ack) jobs.complete(update.ack.owner, update.ack.jobIds);
    const status = [
      update.status,
      update.status,
      update.provider ?? null,
      update.lastError ?? null,
      update.reason === undefined ? 0 : 1,
      update.reason ?? null,
      update.providerMessageId ?? null,
      update.meta ? JSON.stringify(update.meta) : '{}',
      update.now,
    ];
    const where = update.onlyFrom ? [tenantId, id, JSON.stringify(update.onlyFrom)] : [tenantId, id];
    const one = update.append.length === 1;
    const statement = one
      ? update.onlyFrom
        ? setStatusAndAppendFrom
        : setStatusAndAppend
      : update.onlyFrom
        ? setStatusFrom
        : setStatus;
    const params = one ? [...status, JSON.stringify(update.append[0]), ...where] : [...status, ...where];
    if (statement.run(...params).changes === 0) return false;
    if (!one) for (const entry of update.append) append.run(JSON.stringify(entry), tenantId, id);
    if (update.followUp) jobs.enqueue(update.followUp, update.now);
    for (const event of update.events ?? []) jobs.enqueue(event, update.now);
    return true;
  }
  const applyUpdate = db.transaction(change);
  const applyUpdates = db.transaction((updates: readonly MessageUpdateOf[]) =>
    updates.map((u) => change(u.tenantId, u.id, u.update)),
  );

  const createMessages = db.transaction(
    (
      messages: NewMessage[],
      ack?: MessageAck,
      skipped?: SkippedStep[],
      digestWrites?: DigestWrites,
      inboxSeqs?: Map<string, number>,
    ) => {
      // A pause that answered after the delivery read its workflow (and before this write) stands:
      // the write is refused whole, before anything of it is made, and the delivery builds again.
      // Nothing commits meanwhile on the single writer, so no pause is missed.
      const paused = workflowsBuiltLive(messages).filter(
        (ref) => workflowPaused.get(ref.tenantId, ref.key) !== undefined,
      );
      if (paused.length > 0) throw new WorkflowPausedSinceRead(paused);
      // So does a change of preferences that answered after the build read the choices of
      // recipients this write delivers to (the same single writer: none is missed).
      const moved = [...choicesVersionsRead(messages)].filter(
        ([tenantId, version]) => ((choicesVersion.get(tenantId) as number | undefined) ?? 0) !== version,
      );
      if (moved.length > 0) throw new ConsentChangedSinceRead(moved.map(([tenantId]) => tenantId));
      const joins = digestWrites?.joins ?? [];
      // A run that lost its lease joins nothing: the run that holds it now joins (DigestWrites).
      if (joins.length > 0 && (!ack || jobs.holdsAny(ack.owner, ack.jobIds)))
        for (const join of joins) digests.join(join);
      for (const done of digestWrites?.finished ?? []) digests.finish(done);
      const created: string[] = [];
      // Recipients of one event share its data and, per channel, an identical timeline: serialise
      // each shared object once per batch rather than once per recipient.
      const serialised = new Map<object, string>();
      const json = (value: object) => {
        let text = serialised.get(value);
        if (text === undefined) {
          text = JSON.stringify(value);
          serialised.set(value, text);
        }
        return text;
      };
      // Whether each recipient is still the subscriber the messages were built for: read one by
      // one only in a tenant where an erasure began since the build (one read per tenant else).
      const erasedAt = new Map<string, number | null>();
      const stillThere = new Map<string, boolean>();
      const recipientHolds = (record: NewMessage['record'], since: number) => {
        let erasure = erasedAt.get(record.tenantId);
        if (erasure === undefined) {
          erasure = (lastErasure.get(record.tenantId) as number | undefined) ?? null;
          erasedAt.set(record.tenantId, erasure);
        }
        if (erasure === null || erasure < record.createdAt - ERASURE_CLOCK_MARGIN_MS) return true;
        const key = `${record.tenantId}\u0000${record.subscriberId}`;
        let holds = stillThere.get(key);
        if (holds === undefined) {
          holds = subscriberSince.get(record.tenantId, record.subscriberId) === since;
          stillThere.set(key, holds);
        }
        return holds;
      };
      // An event cancelled since the delivery read it gets nothing more: the cancel answered
      // before this write, and an in-app item written now would be delivered after it.
      const liveEvents = new Map<string, boolean>();
      const eventLive = (record: NewMessage['record']) => {
        const key = `${record.tenantId}\u0000${record.eventId}`;
        let live = liveEvents.get(key);
        if (live === undefined) {
          live = eventCancelled.get(record.tenantId, record.eventId) === undefined;
          liveEvents.set(key, live);
        }
        return live;
      };
      for (const { record, followUp, events, subscriberCreatedAt } of messages) {
        if (subscriberCreatedAt !== undefined && !recipientHolds(record, subscriberCreatedAt)) continue;
        if (!eventLive(record)) continue;
        const inserted = insert.run(
          record.tenantId,
          record.id,
          record.eventId,
          record.subscriberId,
          record.channel,
          record.workflow,
          record.status,
          record.provider,
          JSON.stringify(record.content),
          json(record.data),
          willBeSent(record) ? json(record.timeline) + SEND_ENTRIES_ROOM : json(record.timeline),
          record.eventAt,
          record.createdAt,
          record.updatedAt,
          record.lastError,
          record.reason,
          record.deviceId ?? '',
          record.providerMessageId ?? null,
          json(record.meta ?? NO_META),
        ).changes;
        if (inserted === 0) continue;
        created.push(record.id);
        // A new inbox item is a change its subscriber's streams replay (in this transaction).
        if (record.channel === 'in_app' && record.status === 'delivered') {
          const { tenantId, subscriberId, id, createdAt } = record;
          if (inboxSeqs) inboxSeqs.set(id, inbox.log(tenantId, subscriberId, 'item.created', id, createdAt));
          else inbox.append(tenantId, subscriberId, 'item.created', id, createdAt);
        }
        if (followUp) jobs.enqueue(followUp, record.createdAt);
        for (const event of events ?? []) jobs.enqueue(event, record.createdAt);
      }
      for (const s of skipped ?? [])
        insertSkipped.run(s.tenantId, s.eventId, s.subscriberId, s.step, s.channel, s.reason, s.createdAt);
      if (ack) jobs.complete(ack.owner, ack.jobIds, ack.followUps, ack.parts);
      return created;
    },
  );

  // Read through messages_by_variant (migration 026), whose predicate and expression it repeats.
  const variantCounts = db.prepare(
    `SELECT json_extract(meta, '$.variant') AS variant, status, COUNT(*) AS count FROM messages
      WHERE tenant_id = ? AND workflow = ? AND instr(meta, '"variant"') > 0
        AND json_extract(meta, '$.variant') IS NOT NULL
      GROUP BY 1, 2 ORDER BY 1, 2`,
  );

  return {
    async createMessages(messages, ack, skipped, digestWrites, inboxSeqs) {
      return createMessages.immediate(messages, ack, skipped, digestWrites, inboxSeqs);
    },
    async variantCounts(tenantId, workflow) {
      return variantCounts.all(tenantId, workflow) as VariantCount[];
    },
    async listSkippedSteps(tenantId, eventId, limit) {
      return (skippedOf.all(tenantId, eventId, limit) as SkippedStepRow[]).map(toSkippedStep);
    },
    async getMessage(tenantId, id) {
      const row = get.get(tenantId, id) as MessageRow | undefined;
      return row ? toMessage(row) : null;
    },
    async getMessages(tenantId, ids) {
      if (ids.length === 0) return [];
      return (getMany.all(tenantId, JSON.stringify(ids)) as MessageRow[]).map(toMessage);
    },
    async messageChanges(query) {
      const rows = changes.all({
        tenantId: query.tenantId,
        idFrom: idFloor('msg', query.createdFrom),
        changedFrom: query.changedFrom,
        workflow: query.workflow ?? null,
        limit: query.limit,
      }) as MessageChangeRow[];
      return rows.map(toMessageChange);
    },
    async deferredMessages(tenantId, subscriberId, createdFrom, limit) {
      const idFrom = idFloor('msg', createdFrom);
      const rows = deferred.all({ tenantId, subscriberId, idFrom, limit }) as DeferredRow[];
      return rows.map((row) => toDeferred(tenantId, row));
    },
    async listEventMessages(tenantId, eventId, { beforeId, limit }) {
      const rows = (
        beforeId === undefined
          ? eventMessages.all({ tenantId, eventId, limit })
          : eventMessagesBefore.all({ tenantId, eventId, beforeId, limit })
      ) as Parameters<typeof toEventMessage>[0][];
      return rows.map(toEventMessage);
    },
    async listMessages(filter) {
      return (listStatement(filter).all(filter) as MessageRow[]).map(toMessage);
    },
    async pageMessages(filter) {
      return sizedPage(listStatement(filter), { ...filter }, filter, messageRowBytes, toMessage);
    },
    async updateMessage(tenantId, id, update) {
      return applyUpdate.immediate(tenantId, id, update);
    },
    async updateMessages(updates) {
      return updates.length === 0 ? [] : applyUpdates.immediate(updates);
    },
    async replayDeadMessage(tenantId, id, update) {
      return applyUpdate.immediate(tenantId, id, { ...update, onlyFrom: ['dead'] });
    },
    async recordReceipt(write) {
      return db
        .transaction(() => {
          const { tenantId, id, subscriberId, now } = write;
          const changed =
            receipt.run({
              tenantId,
              id,
              subscriberId,
              now,
              receipt: write.receipt,
              reads: write.receipt === 'delivered' ? 0 : 1,
              entry: JSON.stringify(write.entry),
              from: JSON.stringify(write.from),
            }).changes > 0;
          if (changed && write.followUp) jobs.enqueue(write.followUp, now);
          const row = getOf.get({ tenantId, id, subscriberId }) as MessageRow | undefined;
          // A receipt that reads an inbox item is a change its subscriber's streams replay.
          if (changed && row?.channel === 'in_app')
            inbox.log(tenantId, row.subscriber_id, 'item.updated', id, now);
          return row ? { message: toMessage(row), changed } : null;
        })
        .immediate();
    },
    async markEscalated(tenantId, ids, entry, now) {
      if (ids.length === 0) return 0;
      return escalate.run({ tenantId, ids: JSON.stringify(ids), entry: JSON.stringify(entry), now }).changes;
    },
    async saveSandboxCapture(c: SandboxCapture) {
      capture.run(
        c.tenantId,
        c.id,
        c.messageId,
        c.channel,
        personal.sealNullable(c.to),
        JSON.stringify(c.content),
        c.createdAt,
      );
    },
    async listSandboxCaptures(tenantId, limit, channel?: Channel, beforeId?: string) {
      const rows = capturesOf(channel, beforeId).all({
        tenantId,
        limit,
        ...(channel ? { channel } : {}),
        ...(beforeId === undefined ? {} : { beforeId }),
      }) as SandboxCaptureRow[];
      return rows.map((row) => toSandboxCapture(row, personal));
    },
    async pageSandboxCaptures(page) {
      const { tenantId, channel, beforeId } = page;
      return sizedPage(
        capturesOf(channel, beforeId),
        { tenantId, ...(channel ? { channel } : {}), ...(beforeId === undefined ? {} : { beforeId }) },
        page,
        (row: SandboxCaptureRow) => row.content.length,
        (row) => toSandboxCapture(row, personal),
      );
    },
  };
}
