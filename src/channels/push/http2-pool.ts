import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type { TLSSocket } from 'node:tls';

/** One HTTP/2 answer, body read in full (APNs answers are tiny JSON). */
export interface Http2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Http2PoolOptions {
  /** `https://host[:port]`: the `:authority` of every request. */
  origin: string;
  /** Opens a TLS connection that negotiated `h2` (through the outbound guard). */
  connect(): Promise<TLSSocket>;
  /** At most this many connections; a new one only opens when the others are at the server's stream limit. */
  maxConnections: number;
  /** Each connection is PINGed this often; no answer within `pingTimeoutMs` replaces it. */
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /**
   * A request with no complete answer by then fails (the connection may be dead); so does one
   * that waited that long for a free stream.
   */
  requestTimeoutMs: number;
}

/** Streams per connection we use at most, whatever the server allows (Apple's advice is ~1000). */
const STREAM_CAP = 1000;
/** Times one request may be moved to another connection because the server did not process it. */
const MAX_REDISPATCH = 5;
/** Bytes of an answer body we keep: APNs error bodies are ~50 bytes of JSON. */
const MAX_BODY_BYTES = 16 * 1024;

/** A request the server never processed (refused, or above a GOAWAY's last stream id): safe to resend. */
class UnprocessedError extends Error {
  override name = 'UnprocessedError';
}

/** The request was sent, and the connection failed or timed out before a full answer. */
export class Http2RequestError extends Error {
  override name = 'Http2RequestError';
}

interface Waiter {
  resolve(connection: PooledConnection): void;
  reject(error: Error): void;
}

/**
 * A connection in the pool. `active` counts streams we opened on it and have not seen finish.
 * Once the server said GOAWAY (or it failed a PING) it takes no new stream; streams already on it
 * finish there.
 */
class PooledConnection {
  active = 0;
  retired = false;
  /** From the server's GOAWAY: streams above it were not processed. */
  lastStreamId: number | undefined;
  private pinger: NodeJS.Timeout | undefined;

  constructor(readonly session: ClientHttp2Session) {}

  get capacity(): number {
    return Math.min(this.session.remoteSettings.maxConcurrentStreams ?? STREAM_CAP, STREAM_CAP);
  }

  get usable(): boolean {
    return !this.retired && !this.session.closed && !this.session.destroyed;
  }

  startPinging(intervalMs: number, timeoutMs: number, onDead: () => void): void {
    this.pinger = setInterval(() => {
      if (!this.usable) return;
      let answered = false;
      const deadline = setTimeout(() => {
        if (!answered) onDead();
      }, timeoutMs);
      deadline.unref();
      const sent = this.session.ping((error) => {
        answered = true;
        clearTimeout(deadline);
        if (error) onDead();
      });
      if (!sent) {
        clearTimeout(deadline);
        onDead();
      }
    }, intervalMs);
    this.pinger.unref();
  }

  stopPinging(): void {
    clearInterval(this.pinger);
  }
}

/**
 * A small pool of multiplexed HTTP/2 connections to one origin, for request/response APIs such as
 * APNs. Requests share a connection until it reaches the server's SETTINGS_MAX_CONCURRENT_STREAMS;
 * only then does another connection open (one at a time, at most `maxConnections`), and requests
 * beyond every connection's limit wait their turn in order.
 *
 * Connections are replaced, never repaired: a GOAWAY retires one (its in-flight streams finish on
 * it; streams the server says it did not process — above the GOAWAY's last stream id, or refused
 * with REFUSED_STREAM — go again on another connection, RFC 9113 §8.7, so none is lost and none
 * sent twice), and one that does not answer a PING in time is dropped.
 */
export class Http2Pool {
  private readonly connections = new Set<PooledConnection>();
  private readonly waiters: Waiter[] = [];
  private opening = false;
  private closed = false;

  constructor(private readonly options: Http2PoolOptions) {}

  async request(headers: OutgoingHttpHeaders, body: string): Promise<Http2Answer> {
    for (let round = 0; ; round++) {
      const connection = await this.acquire();
      try {
        return await this.exchange(connection, headers, body);
      } catch (error) {
        // Not processed: the next round picks another connection if this one is going away (GOAWAY
        // retired it), or the same one when the server only refused this stream.
        if (!(error instanceof UnprocessedError) || round >= MAX_REDISPATCH) throw error;
      } finally {
        this.release(connection);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('the HTTP/2 pool is closed'));
    await Promise.all(
      [...this.connections].map(
        (connection) =>
          new Promise<void>((resolve) => {
            connection.stopPinging();
            if (connection.session.destroyed) return resolve();
            // A retired session is already closing: close() again would not call back, 'close' will.
            connection.session.once('close', () => resolve());
            connection.session.close();
            // A stream that never ends must not hold shutdown.
            setTimeout(() => connection.session.destroy(), 2_000).unref();
          }),
      ),
    );
    this.connections.clear();
  }

  private acquire(): Promise<PooledConnection> {
    if (this.closed) return Promise.reject(new Error('the HTTP/2 pool is closed'));
    const free = this.leastBusy();
    if (free && this.waiters.length === 0) {
      free.active++;
      return Promise.resolve(free);
    }
    return new Promise((resolve, reject) => {
      // A server that never frees a stream (or announces a limit of 0) must not hold a send forever.
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index !== -1) this.waiters.splice(index, 1);
        reject(new Http2RequestError('no free HTTP/2 stream in time'));
      }, this.options.requestTimeoutMs);
      const waiter: Waiter = {
        resolve: (connection) => {
          clearTimeout(timer);
          resolve(connection);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.push(waiter);
      this.dispatch();
    });
  }

  private release(connection: PooledConnection): void {
    connection.active--;
    this.dispatch();
  }

  /** Hands free stream slots to waiters in arrival order; opens a connection when none is free. */
  private dispatch(): void {
    while (this.waiters.length > 0) {
      const free = this.leastBusy();
      if (!free) break;
      free.active++;
      this.waiters.shift()!.resolve(free);
    }
    if (this.waiters.length > 0) this.grow();
  }

  private leastBusy(): PooledConnection | undefined {
    let best: PooledConnection | undefined;
    for (const connection of this.connections) {
      if (!connection.usable || connection.active >= connection.capacity) continue;
      if (!best || connection.active < best.active) best = connection;
    }
    return best;
  }

  private grow(): void {
    if (this.opening || this.closed) return;
    const usable = [...this.connections].filter((c) => c.usable).length;
    if (usable >= this.options.maxConnections) return;
    this.opening = true;
    this.open().then(
      (connection) => {
        this.opening = false;
        if (this.closed) {
          connection.session.destroy();
          return;
        }
        this.connections.add(connection);
        this.dispatch();
      },
      (error: Error) => {
        this.opening = false;
        // With nothing else to wait for, the waiters learn why now rather than at their deadline.
        if (![...this.connections].some((c) => c.usable)) {
          for (const waiter of this.waiters.splice(0)) waiter.reject(error);
        }
      },
    );
  }

  private async open(): Promise<PooledConnection> {
    const socket = await this.options.connect();
    const session = connect(this.options.origin, {
      createConnection: () => socket,
      settings: { enablePush: false },
    });
    const connection = new PooledConnection(session);
    // Errors surface on the streams; a session error must not become an uncaught exception.
    session.on('error', () => undefined);
    session.on('goaway', (_code: number, lastStreamId: number) => {
      connection.lastStreamId = lastStreamId;
      this.retire(connection);
    });
    // A server that raises its stream limit (APNs does after the first valid token) frees slots.
    session.on('remoteSettings', () => this.dispatch());
    session.once('close', () => {
      connection.stopPinging();
      this.connections.delete(connection);
      this.dispatch();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('no HTTP/2 SETTINGS from the server in time')), 10_000);
      const fail = (error: Error) => {
        clearTimeout(timer);
        session.destroy();
        reject(error);
      };
      // The server's first SETTINGS says how many streams it takes: until then we know nothing.
      session.once('remoteSettings', () => {
        clearTimeout(timer);
        session.off('close', closed);
        resolve();
      });
      const closed = () => fail(new Error('the HTTP/2 connection closed during setup'));
      session.once('close', closed);
    });
    connection.startPinging(this.options.pingIntervalMs, this.options.pingTimeoutMs, () => {
      this.retire(connection);
      connection.session.destroy();
    });
    return connection;
  }

  private retire(connection: PooledConnection): void {
    if (connection.retired) return;
    connection.retired = true;
    connection.stopPinging();
    // No new stream goes there; once its own streams are done, it closes.
    if (!connection.session.closed && !connection.session.destroyed) connection.session.close();
    this.dispatch();
  }

  /** One request on one connection; rejects with UnprocessedError when it is safe to resend. */
  private exchange(
    connection: PooledConnection,
    headers: OutgoingHttpHeaders,
    body: string,
  ): Promise<Http2Answer> {
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = connection.session.request(headers);
      } catch (error) {
        // The session closed between acquire and request: nothing was sent.
        reject(new UnprocessedError((error as Error).message));
        return;
      }
      let status: number | undefined;
      let responseHeaders: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        outcome();
      };
      stream.setTimeout(this.options.requestTimeoutMs, () => {
        settle(() => reject(new Http2RequestError('no answer from the server in time')));
        stream.close(constants.NGHTTP2_CANCEL);
      });
      stream.on('response', (h) => {
        status = Number(h[':status']);
        responseHeaders = h;
      });
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      stream.on('end', () => {
        if (status === undefined) return;
        const answer = { status, headers: responseHeaders, body: Buffer.concat(chunks).toString('utf8') };
        settle(() => resolve(answer));
      });
      stream.on('error', () => undefined);
      stream.on('close', () => {
        settle(() => {
          const refused = stream.rstCode === constants.NGHTTP2_REFUSED_STREAM;
          const neverSent = stream.id === undefined;
          const aboveGoaway =
            connection.lastStreamId !== undefined &&
            stream.id !== undefined &&
            stream.id > connection.lastStreamId;
          if (refused || neverSent || aboveGoaway) {
            reject(new UnprocessedError('the server did not process the request'));
          } else {
            reject(new Http2RequestError('the connection ended before a full answer'));
          }
        });
      });
      stream.end(body);
    });
  }
}
