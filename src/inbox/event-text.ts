import type { InboxEvent } from './session.ts';

const TEXT = Symbol('inbox event JSON');
type WithText = { [TEXT]?: string };

/**
 * An event's JSON, made once however many streams send it (a subscriber's devices share their
 * events: session.ts), and kept on the event: a property rather than a WeakMap, as a broadcast
 * makes 10,000 of them at once.
 */
export function eventText(event: InboxEvent | Record<string, unknown>): string {
  let text = (event as WithText)[TEXT];
  if (text === undefined) {
    text = JSON.stringify(event);
    (event as WithText)[TEXT] = text;
  }
  return text;
}

/**
 * `item.created` from an item's view already in JSON (feed.ts LoggedItem): the text is put
 * together around it, and `item` is parsed only if something reads it.
 */
export function itemCreatedEvent(seq: number, view: string, unreadCount: number): InboxEvent {
  const id = String(seq);
  let item: unknown;
  const event = { type: 'item.created', id } as { type: 'item.created'; id: string; item: unknown } & {
    unreadCount: number;
  } & WithText;
  Object.defineProperty(event, 'item', {
    enumerable: true,
    get: () => {
      item ??= JSON.parse(view);
      return item;
    },
  });
  event.unreadCount = unreadCount;
  // Not enumerable: the event compares equal to one read from the log.
  Object.defineProperty(event, TEXT, {
    value: `{"type":"item.created","id":"${id}","item":${view},"unreadCount":${unreadCount}}`,
  });
  return event;
}
