import type { TestServer } from './server.ts';
import { waitFor } from './wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: message views are read field by field and checked by assertions
type Json = any;

/**
 * Every message of these events, in full (GET /v1/messages/{id}), once each event has
 * `perEvent` messages and none is `queued` or `sending` any more.
 */
export async function settledMessages(
  server: TestServer,
  eventIds: string[],
  perEvent: number,
  auth?: { auth: string },
): Promise<Json[]> {
  const views: Json[] = (await waitFor(async (): Promise<Json[] | null> => {
    const all: Json[] = [];
    for (const id of eventIds) {
      const event = (await server.call('GET', `/v1/events/${id}`, undefined, auth)).body;
      if (event.messages?.length !== perEvent) return null;
      if (event.messages.some((m: Json) => ['queued', 'sending'].includes(m.status))) return null;
      all.push(...event.messages);
    }
    return all;
  }, `every message of ${eventIds.length} events settled`)) as Json[];
  return Promise.all(
    views.map(
      async (m: Json) => (await server.call('GET', `/v1/messages/${m.messageId}`, undefined, auth)).body,
    ),
  );
}
