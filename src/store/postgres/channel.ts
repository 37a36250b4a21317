import pg from 'pg';
import type { StoreChannel, StoreChannelName } from '../port.ts';

const MAX_RECONNECT_DELAY_MS = 5_000;
/** Idle time before TCP keepalive probes start on the listening connection. */
const LISTENER_KEEPALIVE_MS = 10_000;
/**
 * How often the listening connection is asked `SELECT 1`, and how long it has to answer. TCP
 * keepalive alone (Node sets only its idle time; Linux then probes 9 times, 75 s apart) noticed a
 * connection that died without a word only after some 11.5 minutes, every notification of them
 * lost; with the ping, within about 15 s.
 */
export const LISTENER_LIVENESS = { everyMs: 10_000, timeoutMs: 5_000 };

/** The LISTEN/NOTIFY name of one of Tidings' channels. */
export const channelName = (name: StoreChannelName) => `tidings_${name}`;

export interface ChannelOptions {
  url: string;
  pool: pg.Pool;
  /** The LISTEN/NOTIFY channel name. */
  name: string;
  /** Null: this process only publishes, and opens no listening connection. */
  onMessage: ((payload: string) => void) | null;
  /** The listening connection came back after a loss: whatever was sent meanwhile is gone. */
  onReconnect?: () => void;
  onError?: (error: Error, context: string) => void;
  /** The listener's liveness ping ({@link LISTENER_LIVENESS}; tests make it quicker). */
  liveness?: { everyMs: number; timeoutMs: number };
}

/**
 * A LISTEN/NOTIFY channel between processes. Listening holds one connection of its own,
 * re-opened with backoff whenever it drops (a database restart, say) or stops answering its
 * liveness ping. Publishing is coalesced:
 * while one NOTIFY is in flight, further payloads wait (identical ones once) and go out
 * together in the next.
 */
export async function openChannel(options: ChannelOptions): Promise<StoreChannel> {
  let closed = false;
  let client: pg.Client | null = null;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let failures = 0;
  let pingTimer: NodeJS.Timeout | null = null;
  const onMessage = options.onMessage;
  const liveness = options.liveness ?? LISTENER_LIVENESS;

  /**
   * Asks the listener `SELECT 1` every so often: one that does not answer in time is taken for
   * dead — cut off (its socket destroyed: a polite end would wait on the dead peer) and reconnected,
   * which tells the receivers of the gap (onReconnect).
   */
  const watch = (listener: pg.Client) => {
    let asking = false;
    pingTimer = setInterval(() => {
      if (asking || client !== listener) return;
      asking = true;
      listener
        .query('SELECT 1')
        .then(
          () => undefined,
          (error: Error) => {
            if (client !== listener) return;
            options.onError?.(error, `${options.name} listener did not answer; reconnecting`);
            listener.connection.stream.destroy();
            scheduleReconnect();
          },
        )
        .finally(() => {
          asking = false;
        });
    }, liveness.everyMs);
    pingTimer.unref();
  };
  const unwatch = () => {
    if (pingTimer) clearInterval(pingTimer);
    pingTimer = null;
  };

  const connect = async (): Promise<void> => {
    if (!onMessage) return;
    const next = new pg.Client({
      connectionString: options.url,
      application_name: 'tidings-listen',
      // A listener only reads: a connection that died without a word (a host gone, a NAT that
      // forgot it) would otherwise never fail, never reconnect, and hear nothing ever after.
      keepAlive: true,
      keepAliveInitialDelayMillis: LISTENER_KEEPALIVE_MS,
      // Its queries (LISTEN, the liveness ping) fail unanswered after this: see watch().
      query_timeout: liveness.timeoutMs,
    });
    next.on('notification', (message) => {
      if (message.channel === options.name && message.payload !== undefined) onMessage(message.payload);
    });
    // Only the current listener's loss matters: a late error from a replaced one is ignored.
    next.on('error', (error) => {
      if (client !== next) return;
      options.onError?.(error, `${options.name} listener lost; reconnecting`);
      scheduleReconnect();
    });
    next.on('end', () => {
      if (client === next) scheduleReconnect();
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${options.name}`);
    } catch (error) {
      await next.end().catch(() => undefined);
      throw error;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    failures = 0;
    watch(next);
  };

  const scheduleReconnect = () => {
    if (closed || reconnectTimer) return;
    unwatch();
    const lost = client;
    client = null;
    void lost?.end().catch(() => undefined);
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, 100 * 2 ** failures++);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connect().then(
        () => options.onReconnect?.(),
        (error: Error) => {
          options.onError?.(error, `${options.name} listener reconnect failed; trying again`);
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
    const payloads = [...pending];
    pending.clear();
    sending = true;
    const notify = (batch: string[]) =>
      options.pool.query('SELECT pg_notify($1, p) FROM unnest($2::TEXT[]) AS p', [options.name, batch]);
    const failed = (error: Error) => options.onError?.(error, `publishing on ${options.name} failed`);
    notify(payloads)
      .then(
        () => undefined,
        // One payload PostgreSQL refuses (too long, say) fails the statement, and with it every
        // other payload of the batch — other tenants' changes among them: each goes on its own.
        async (error: Error) => {
          if (payloads.length === 1) failed(error);
          else await Promise.all(payloads.map((payload) => notify([payload]).catch(failed)));
        },
      )
      .finally(() => {
        sending = false;
        flush();
      });
  };

  return {
    publish(payload) {
      pending.add(payload);
      if (!sending) setImmediate(flush);
    },
    async close() {
      closed = true;
      unwatch();
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const current = client;
      client = null;
      await current?.end().catch(() => undefined);
    },
  };
}
