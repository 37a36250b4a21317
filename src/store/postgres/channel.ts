import pg from 'pg';
import type { StoreChannel, StoreChannelName } from '../port.ts';

const MAX_RECONNECT_DELAY_MS = 5_000;
/** Idle time before TCP keepalive probes start on the listening connection. */
const LISTENER_KEEPALIVE_MS = 10_000;

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
}

/**
 * A LISTEN/NOTIFY channel between processes. Listening holds one connection of its own,
 * re-opened with backoff whenever it drops (a database restart, say). Publishing is coalesced:
 * while one NOTIFY is in flight, further payloads wait (identical ones once) and go out
 * together in the next.
 */
export async function openChannel(options: ChannelOptions): Promise<StoreChannel> {
  let closed = false;
  let client: pg.Client | null = null;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let failures = 0;
  const onMessage = options.onMessage;

  const connect = async (): Promise<void> => {
    if (!onMessage) return;
    const next = new pg.Client({
      connectionString: options.url,
      application_name: 'tidings-listen',
      // A listener only reads: a connection that died without a word (a host gone, a NAT that
      // forgot it) would otherwise never fail, never reconnect, and hear nothing ever after.
      keepAlive: true,
      keepAliveInitialDelayMillis: LISTENER_KEEPALIVE_MS,
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
  };

  const scheduleReconnect = () => {
    if (closed || reconnectTimer) return;
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
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const current = client;
      client = null;
      await current?.end().catch(() => undefined);
    },
  };
}
