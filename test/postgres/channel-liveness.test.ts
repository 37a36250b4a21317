import net from 'node:net';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openChannel } from '../../src/store/postgres/channel.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/**
 * A TCP proxy to the database whose connections can go silent: `freeze` stops carrying bytes on
 * every connection open now, closing none — like a host gone or a NAT that forgot them. Later
 * connections go through.
 */
async function silenceableProxy(target: URL) {
  const pairs: [net.Socket, net.Socket][] = [];
  const server = net.createServer((inbound) => {
    const outbound = net.connect(Number(target.port || 5432), target.hostname);
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => undefined);
    outbound.on('error', () => undefined);
    pairs.push([inbound, outbound]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) for (const socket of pair) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    url: url.toString(),
    freeze() {
      for (const [inbound, outbound] of pairs.splice(0)) {
        inbound.unpipe(outbound);
        outbound.unpipe(inbound);
        inbound.pause();
        outbound.pause();
        closers.push(() => {
          inbound.destroy();
          outbound.destroy();
        });
      }
    },
  };
}

describe.runIf(postgresAvailable)('a PostgreSQL channel’s listener', () => {
  it('that goes silent (no error, no close) is found out by its liveness ping and replaced', async () => {
    const url = await freshDatabaseUrl();
    const proxy = await silenceableProxy(new URL(url));
    const pool = new pg.Pool({ connectionString: url });
    closers.push(() => pool.end());
    const heard: string[] = [];
    const errors: string[] = [];
    let reconnects = 0;
    const channel = await openChannel({
      url: proxy.url,
      pool,
      name: 'tidings_test_liveness',
      onMessage: (payload) => heard.push(payload),
      onReconnect: () => reconnects++,
      onError: (_error, context) => errors.push(context),
      liveness: { everyMs: 50, timeoutMs: 200 },
    });
    closers.push(() => channel.close());
    channel.publish('before');
    await waitFor(() => heard.includes('before'), 'the first payload');

    proxy.freeze();
    await waitFor(() => reconnects === 1, 'the silent listener to be replaced');
    expect(errors).toContain('tidings_test_liveness listener did not answer; reconnecting');
    channel.publish('after');
    await waitFor(() => heard.includes('after'), 'a payload sent after the reconnect');
  });
});
