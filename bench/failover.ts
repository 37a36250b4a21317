import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { Scenario, ScenarioContext } from './scenarios.ts';
import { type BenchServer, freePort, JSON_HEADERS } from './server.ts';
import { fmt, round, sleep } from './stats.ts';

/**
 * Failover (issue 12): 10,000 emails through two SMTP integrations, twice, each on a fresh server:
 *   healthy  — both integrations up; everything goes through the primary;
 *   failover — the primary refuses connections (a closed port); its circuit opens and everything
 *              goes through the secondary.
 * The clock runs from the first POST until every email is `sent` (read from the server's SQLite
 * file). Targets: failover throughput within 20 % of the healthy run; no email lost or sent twice,
 * counted at the SMTP sinks by the X-Tidings-Message-Id header each email carries.
 */

const BULK = 1000;
/** A sink reads at most this much of a message for the header; the rest is drained unread. */
const HEADER_SCAN_BYTES = 4096;
const RATIO_TARGET = 0.8;

/** A local SMTP server that counts what arrives, by X-Tidings-Message-Id. Nothing is parsed beyond that header. */
interface SmtpSink {
  port: number;
  /** Message ids received, with how often each arrived. */
  received: Map<string, number>;
  close(): Promise<void>;
}

async function startSink(): Promise<SmtpSink> {
  const received = new Map<string, number>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 200,
    onData(stream, _session, callback) {
      let head = '';
      stream.on('data', (chunk: Buffer) => {
        if (head.length < HEADER_SCAN_BYTES) head += chunk.toString('latin1');
      });
      stream.on('error', callback);
      stream.on('end', () => {
        const id = /^x-tidings-message-id:\s*(\S+)/im.exec(head)?.[1] ?? '(none)';
        received.set(id, (received.get(id) ?? 0) + 1);
        callback(null);
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function bulkBody(run: string, first: number, count: number): string {
  const events: string[] = [];
  for (let i = first; i < first + count; i++) {
    events.push(
      `{"workflow":"mail","to":[{"subscriberId":"${run}_${i}","email":"${run}_${i}@example.com"}],"data":{"n":${i}}}`,
    );
  }
  return `{"events":[${events.join(',')}]}`;
}

function sentEmails(server: BenchServer): number {
  return server
    .db()
    .prepare(`SELECT COUNT(*) FROM messages WHERE channel = 'email' AND status = 'sent'`)
    .pluck()
    .get() as number;
}

function emailStatuses(server: BenchServer): Record<string, number> {
  const rows = server
    .db()
    .prepare(`SELECT status, COUNT(*) AS n FROM messages WHERE channel = 'email' GROUP BY status`)
    .all() as { status: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

interface RunResult {
  emails: number;
  elapsedMs: number;
  perSecond: number;
  sent: number;
  statuses: Record<string, number>;
  /** Emails the sinks got, distinct message ids, and ids that arrived more than once. */
  arrived: number;
  distinct: number;
  duplicates: number;
  byIntegration: Record<string, number>;
  primaryCircuit: unknown;
}

async function runOnce(
  ctx: ScenarioContext,
  server: BenchServer,
  run: 'healthy' | 'failover',
  emails: number,
): Promise<RunResult> {
  const secondary = await startSink();
  const primary = run === 'healthy' ? await startSink() : null;
  // Nothing listens on a port just freed: connections to it are refused.
  const primaryPort = primary ? primary.port : await freePort();
  try {
    const smtp = (port: number) => ({ host: '127.0.0.1', port, from: 'Bench <bench@example.com>' });
    await server.api('PUT', '/v1/integrations/primary', {
      channel: 'email',
      provider: 'smtp',
      priority: 1,
      config: smtp(primaryPort),
    });
    await server.api('PUT', '/v1/integrations/secondary', {
      channel: 'email',
      provider: 'smtp',
      priority: 2,
      config: smtp(secondary.port),
    });
    await server.api('PUT', '/v1/workflows/mail', {
      channels: [
        { channel: 'email', template: { subject: 'Bench {{ data.n }}', text: 'Hello {{ data.n }}' } },
      ],
    });

    const pool = server.pool(4);
    const started = performance.now();
    for (let first = 0; first < emails; first += BULK) {
      const count = Math.min(BULK, emails - first);
      const res = await pool.request({
        path: '/v1/events/bulk',
        method: 'POST',
        headers: JSON_HEADERS,
        body: bulkBody(run, first, count),
      });
      const text = await res.body.text();
      if (res.statusCode !== 202) throw new Error(`bulk answered ${res.statusCode}: ${text.slice(0, 200)}`);
    }
    const deadline = started + (ctx.options.quick ? 60_000 : 300_000);
    let sent = sentEmails(server);
    let lastLog = started;
    while (sent < emails && performance.now() < deadline) {
      if (performance.now() - lastLog > 5_000) {
        lastLog = performance.now();
        ctx.log(`${run}: ${fmt(sent)} of ${fmt(emails)} sent`);
      }
      await sleep(20);
      sent = sentEmails(server);
    }
    const elapsedMs = performance.now() - started;
    // Let in-flight sends land before counting at the sinks (a send is `sent` only after the sink said 250).
    await sleep(200);
    const sinks = [primary, secondary].filter((s): s is SmtpSink => s !== null);
    let arrived = 0;
    let duplicates = 0;
    const ids = new Set<string>();
    for (const sink of sinks) {
      for (const [id, n] of sink.received) {
        arrived += n;
        if (ids.has(id) || n > 1) duplicates++;
        ids.add(id);
      }
    }
    const byIntegration = Object.fromEntries(
      (
        server
          .db()
          .prepare(`SELECT provider, COUNT(*) AS n FROM messages WHERE channel = 'email' GROUP BY provider`)
          .all() as { provider: string; n: number }[]
      ).map((r) => [r.provider, r.n]),
    );
    const integrations = await server.api<{ items: { id: string; circuit: unknown }[] }>(
      'GET',
      '/v1/integrations',
    );
    return {
      emails,
      elapsedMs,
      perSecond: sent / (elapsedMs / 1000),
      sent,
      statuses: emailStatuses(server),
      arrived,
      distinct: ids.size,
      duplicates,
      byIntegration,
      primaryCircuit: integrations.items.find((i) => i.id === 'primary')?.circuit,
    };
  } finally {
    await Promise.all([secondary.close(), primary?.close()]);
  }
}

async function measure(ctx: ScenarioContext): Promise<void> {
  const emails = ctx.options.quick ? 1_000 : 10_000;
  const env = { TIDINGS_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32' };
  const healthy = await ctx.withServer(
    'failover-healthy',
    (server) => runOnce(ctx, server, 'healthy', emails),
    env,
  );
  ctx.log(`healthy: ${fmt(healthy.perSecond)} emails/s (${JSON.stringify(healthy.byIntegration)})`);
  const failover = await ctx.withServer(
    'failover-primary-down',
    (server) => runOnce(ctx, server, 'failover', emails),
    env,
  );
  ctx.log(
    `primary down: ${fmt(failover.perSecond)} emails/s (${JSON.stringify(failover.byIntegration)}), primary circuit ${JSON.stringify(failover.primaryCircuit)}`,
  );
  const ratio = failover.perSecond / healthy.perSecond;
  ctx.row('healthy: emails/s (first POST → all sent)', round(healthy.perSecond, 1), '/s');
  ctx.row('primary down: emails/s', round(failover.perSecond, 1), '/s');
  ctx.row('throughput primary down / healthy', round(ratio, 3), '×', { op: '>=', value: RATIO_TARGET });
  for (const [name, r] of [
    ['healthy', healthy],
    ['primary down', failover],
  ] as const) {
    ctx.row(
      `${name}: emails lost`,
      r.emails - r.distinct,
      '',
      { op: '==', value: 0 },
      `${fmt(r.arrived)} arrived`,
    );
    ctx.row(`${name}: emails sent twice`, r.duplicates, '', { op: '==', value: 0 });
  }
  ctx.row('primary down: emails via the secondary', failover.byIntegration.secondary ?? 0, '', {
    op: '==',
    value: emails,
  });
  ctx.detail('healthy', { ...healthy, elapsedMs: round(healthy.elapsedMs, 1) });
  ctx.detail('failover', { ...failover, elapsedMs: round(failover.elapsedMs, 1) });
}

export const failover: Scenario = {
  name: 'failover',
  description:
    'emails through two SMTP integrations: healthy, then with the primary refusing connections (circuit open, all via the secondary)',
  run: measure,
};
