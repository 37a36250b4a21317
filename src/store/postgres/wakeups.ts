import pg from 'pg';
import type { Lane } from '../../shared/model.ts';
import type { JobWakeups } from '../port.ts';

const CHANNEL = 'tidings_jobs';
const ANY_LANE = '*';
const MAX_RECONNECT_DELAY_MS = 5_000;

export interface WakeupOptions {
  url: string;
  pool: pg.Pool;
  onReady: (lane: Lane | null) => void;
  onError?: (error: Error, context: string) => void;
}

/**
 * LISTEN/NOTIFY between processes. Listening holds one connection of its own, re-opened with
 * backoff whenever it drops (a database restart, say); after a reconnect every lane is woken,
 * since announcements sent meanwhile were lost. Announcements are coalesced: while one NOTIFY is
 * in flight, further lanes wait and go out together in the next one.
 */
export async function listenForJobs(options: WakeupOptions): Promise<JobWakeups> {
  let closed = false;
  let client: pg.Client | null = null;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let failures = 0;

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: options.url, application_name: 'tidings-listen' });
    next.on('notification', (message) => {
      if (message.channel !== CHANNEL) return;
      options.onReady(message.payload === ANY_LANE || !message.payload ? null : (message.payload as Lane));
    });
    // Only the current listener's loss matters: a late error from a replaced one is ignored.
    next.on('error', (error) => {
      if (client !== next) return;
      options.onError?.(error, 'job wake-up connection lost; reconnecting');
      scheduleReconnect();
    });
    next.on('end', () => {
      if (client === next) scheduleReconnect();
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      next.removeAllListeners('end');
      await next.end().catch(() => undefined);
      throw error;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    failures = 0;
  };

  const scheduleReconnect = () => {
    if (closed || reconnectTimer) return;
    const lost = client;
    client = null;
    lost?.removeAllListeners('end');
    void lost?.end().catch(() => undefined);
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, 100 * 2 ** failures++);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connect().then(
        () => options.onReady(null),
        (error: Error) => {
          options.onError?.(error, 'job wake-up reconnect failed; trying again');
          scheduleReconnect();
        },
      );
    }, delay);
    reconnectTimer.unref();
  };

  await connect();

  const pending = new Set<string>();
  let sending = false;
  const flush = () => {
    if (sending || pending.size === 0 || closed) return;
    const lanes = [...pending];
    pending.clear();
    sending = true;
    options.pool
      .query('SELECT pg_notify($1, l) FROM unnest($2::TEXT[]) AS l', [CHANNEL, lanes])
      .catch((error: Error) => options.onError?.(error, 'announcing jobs failed; idle workers poll'))
      .finally(() => {
        sending = false;
        flush();
      });
  };

  return {
    announce(lane) {
      pending.add(lane ?? ANY_LANE);
      if (!sending) setImmediate(flush);
    },
    async close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const current = client;
      client = null;
      current?.removeAllListeners('end');
      await current?.end().catch(() => undefined);
    },
  };
}
