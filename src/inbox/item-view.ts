import type { MessageRecord } from '../shared/model.ts';
import { iso, isoOrNull } from '../shared/time.ts';
import type { InboxItemFields } from './feed.ts';

/** How an inbox item looks on the wire (API.md "Inbox"): the inbox routes and both streams. */
export function inboxItemView(m: InboxItemFields) {
  return {
    id: m.id,
    eventId: m.eventId,
    workflow: m.workflow,
    title: m.content.title ?? null,
    body: m.content.body ?? null,
    content: m.content,
    data: m.data,
    createdAt: iso(m.eventAt),
    seenAt: isoOrNull(m.seenAt),
    readAt: isoOrNull(m.readAt),
    archivedAt: isoOrNull(m.archivedAt),
    snoozedUntil: isoOrNull(m.snoozedUntil ?? null),
    actionUrl: m.content.actionUrl || null,
    actions: inboxActions(m),
  };
}

/**
 * An in-app item's action buttons (at most two): its template's `action1Label`/`action1Url` and
 * `action2Label`/`action2Url` fields, those with both a label and a URL once rendered.
 */
export function inboxActions(m: Pick<MessageRecord, 'content'>): { label: string; url: string }[] {
  const actions: { label: string; url: string }[] = [];
  for (const n of [1, 2]) {
    const label = m.content[`action${n}Label`];
    const url = m.content[`action${n}Url`];
    if (label && url) actions.push({ label, url });
  }
  return actions;
}
