/** One Server-Sent Event as read off the wire. */
export interface SseEvent {
  event: string;
  id: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: test payloads are read field by field and checked by assertions
  data: any;
}

export interface SseClient {
  status: number;
  headers: Headers;
  /** The next event of type `event` (earlier events of other types are skipped and kept in `seen`). */
  next(event: string, timeoutMs?: number): Promise<SseEvent>;
  seen: SseEvent[];
  /** Settles when the server ends the stream (or it is closed here). */
  ended: Promise<void>;
  close(): void;
}

/** Opens an SSE stream with fetch and parses its frames (`event:`, `id:`, `data:` lines; `:` comments). */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const abort = new AbortController();
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  const seen: SseEvent[] = [];
  const waiting: { event: string; resolve: (e: SseEvent) => void }[] = [];
  let cursor = 0;

  const deliver = () => {
    for (let i = 0; i < waiting.length; ) {
      const want = waiting[i]!;
      const index = seen.findIndex((e, j) => j >= cursor && e.event === want.event);
      if (index < 0) {
        i++;
        continue;
      }
      cursor = index + 1;
      waiting.splice(i, 1);
      want.resolve(seen[index]!);
    }
  };

  let ended: Promise<void> = Promise.resolve();
  if (response.body) {
    ended = (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const frame: SseEvent = { event: 'message', id: null, data: null };
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = line.slice(0, colon);
              const value = line.slice(colon + 1).replace(/^ /, '');
              if (field === 'event') frame.event = value;
              else if (field === 'id') frame.id = value;
              else if (field === 'data') data += data ? `\n${value}` : value;
            }
            if (data) {
              frame.data = JSON.parse(data);
              seen.push(frame);
              deliver();
            }
            end = buffer.indexOf('\n\n');
          }
        }
      } catch {
        // closed
      }
    })();
  }

  return {
    status: response.status,
    headers: response.headers,
    seen,
    ended,
    next(event, timeoutMs = 10_000) {
      return new Promise<SseEvent>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no "${event}" event within ${timeoutMs} ms (saw: ${seen.map((e) => e.event).join(', ')})`,
              ),
            ),
          timeoutMs,
        );
        waiting.push({
          event,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
        deliver();
      });
    },
    close: () => abort.abort(),
  };
}
