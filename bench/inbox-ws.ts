import WebSocket from 'ws';
import type { Scenario, ScenarioContext } from './scenarios.ts';
import { type BenchServer, JSON_HEADERS } from './server.ts';
import { fmt, round, Samples, sleep, summarize } from './stats.ts';

/**
 * Realtime inbox at scale (issue 13): N subscribers each hold one idle WebSocket
 * (`/v1/inbox/ws?token=`) to one server process. Measures the server's resident memory before and
 * after they connect (per connection), then one event to a topic of all N: the time from each
 * inbox row's creation (its item's `createdAt`, written by the server) to the moment the bench's
 * client got `item.created` for it — server and bench share one clock. Targets (issue 13):
 * 10,000 connections under 200 MB (what they add to the process), p99 ≤ 250 ms.
 */

const TARGET_RSS_BYTES = 200 * 1024 * 1024;
const TARGET_P99_MS = 250;
/** Token mints and connection handshakes in flight at once. */
const PARALLEL = 100;

interface Client {
  socket: WebSocket;
  /** ms epoch of the first `item.created`, minus the item's createdAt. */
  latencyMs: number | null;
}

async function inParallel<T>(count: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const lanes = Array.from({ length: Math.min(PARALLEL, count) }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await work(i);
    }
  });
  await Promise.all(lanes);
  return out;
}

async function mintToken(server: BenchServer, subscriberId: string): Promise<string> {
  const answer = await fetch(`${server.url}/v1/subscribers/${subscriberId}/token`, {
    method: 'POST',
    headers: JSON_HEADERS,
    body: JSON.stringify({ expiresIn: '1h' }),
  });
  if (answer.status !== 200 && answer.status !== 201)
    throw new Error(`token for ${subscriberId} → ${answer.status}: ${await answer.text()}`);
  return ((await answer.json()) as { token: string }).token;
}

/** Opens one socket and answers once the server said `ready`. */
function connect(server: BenchServer, token: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const url = `${server.url.replace(/^http/, 'ws')}/v1/inbox/ws?token=${encodeURIComponent(token)}`;
    const socket = new WebSocket(url);
    const client: Client = { socket, latencyMs: null };
    socket.on('message', (raw) => {
      const event = JSON.parse(raw.toString()) as { type: string; item?: { createdAt: string } };
      if (event.type === 'ready') resolve(client);
      else if (event.type === 'item.created' && client.latencyMs === null && event.item)
        client.latencyMs = Date.now() - Date.parse(event.item.createdAt);
    });
    socket.once('error', reject);
    socket.once('close', (code) => reject(new Error(`closed before ready (${code})`)));
  });
}

async function measure(ctx: ScenarioContext, server: BenchServer): Promise<void> {
  const count = ctx.options.quick ? 1_000 : 10_000;
  await server.createSubscribers(count, 'ws_', 'all');
  const ids = Array.from({ length: count }, (_, i) => `ws_${i}`);
  const tokens = await inParallel(count, (i) => mintToken(server, ids[i]!));
  await sleep(1_000); // let the minting's garbage settle before the baseline is read
  const before = server.rssBytes();
  const started = performance.now();
  const clients = await inParallel(count, (i) => connect(server, tokens[i]!));
  const connectMs = performance.now() - started;
  await sleep(2_000);
  const after = server.rssBytes();
  const perConnection = before !== null && after !== null ? (after - before) / count : null;
  ctx.log(
    `${fmt(count)} sockets connected in ${fmt(connectMs / 1000, 1)} s; server RSS ` +
      `${before === null ? '?' : fmt(before / 2 ** 20, 1)} → ${after === null ? '?' : fmt(after / 2 ** 20, 1)} MiB`,
  );

  await server.api('POST', '/v1/events', {
    workflow: 'bench',
    to: [{ topic: 'all' }],
    data: { n: 1, order: 'WS-1' },
  });
  const deadline = performance.now() + 60_000;
  let got = 0;
  while (performance.now() < deadline) {
    got = clients.filter((c) => c.latencyMs !== null).length;
    if (got === count) break;
    await sleep(50);
  }
  const samples = new Samples();
  for (const c of clients) if (c.latencyMs !== null) samples.push(c.latencyMs);
  const latency = summarize(samples.values());
  ctx.log(
    `item.created reached ${fmt(got)} / ${fmt(count)} clients; inbox row → client p50 ${fmt(latency.p50)} ms, ` +
      `p99 ${fmt(latency.p99)} ms, max ${fmt(latency.max)} ms`,
  );
  for (const c of clients) c.socket.terminate();

  ctx.row('idle WebSocket connections', count, '');
  // The target is what the connections cost: the process holds far more before the first one.
  if (before !== null && after !== null) {
    ctx.row('server RSS with them', after / 2 ** 20, 'MiB', undefined, `${fmt(before / 2 ** 20)} MiB before`);
    ctx.row('RSS the connections added', (after - before) / 2 ** 20, 'MiB', {
      op: '<=',
      value: TARGET_RSS_BYTES / 2 ** 20,
    });
  }
  if (perConnection !== null) ctx.row('memory per connection', perConnection / 1024, 'KiB');
  ctx.row('inbox row → client p99', latency.p99, 'ms', { op: '<=', value: TARGET_P99_MS });
  ctx.row('clients without the item', count - got, '', { op: '==', value: 0 });
  ctx.detail('result', {
    connections: count,
    connectMs: round(connectMs, 1),
    rssBeforeBytes: before,
    rssAfterBytes: after,
    bytesPerConnection: perConnection === null ? null : round(perConnection, 0),
    latencyMs: latency,
    received: got,
  });
}

export const inboxWs: Scenario = {
  name: 'inbox-ws',
  description:
    'N idle inbox WebSockets on one server: memory per connection, inbox row → client p99 for a broadcast',
  async run(ctx) {
    await ctx.withServer('inbox-ws', (server) => measure(ctx, server));
  },
};
