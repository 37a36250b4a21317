import type { Config } from '../config/index.ts';
import { MESSAGE_STATUSES, type MessageStatus } from '../shared/model.ts';
import { iso, parseDuration } from '../shared/time.ts';
import type { MessageChange, Store } from '../store/port.ts';
import { parseOptions, UsageError } from './arguments.ts';
import { describeDatabase } from './doctor.ts';
import { openStore } from './open-store.ts';
import { type Paint, paintFor, printable } from './terminal.ts';

export const TAIL_USAGE = `usage: tidings tail [--tenant ID] [--workflow KEY] [--window DURATION]
  Prints one line per message status change from now on: time, message id, subscriber, channel,
  status, reason. --window (default 1h): only messages created that recently are followed.`;

const POLL_MS = 250;
/** Changes are read again this far back: a transaction that commits late still gets its line. */
const OVERLAP_MS = 5_000;
const PAGE = 1_000;
/** How often the list of tenants is read again when following all of them. */
const TENANTS_EVERY_MS = 5_000;
/** Timeline entries worth a line: every status, and an escalation (an entry, not a status of its own). */
const STATUSES: ReadonlySet<string> = new Set([...MESSAGE_STATUSES, 'escalated']);

/** One printed line: a status a message reached, when, and why. */
export interface StatusLine {
  at: number;
  tenantId: string;
  messageId: string;
  subscriberId: string;
  channel: string;
  status: string;
  reason: string | null;
}

interface Seen {
  entries: number;
  status: string;
  updatedAt: number;
  createdAt: number;
}

/**
 * Turns the changed messages a poll read into status lines, once each: a message's new timeline
 * entries that name a status (so a queued → sent between two polls still prints both), then its
 * row status if no entry said it (an inbox read changes the status without one). Only what
 * happened from `startedAt` on is printed.
 */
export class StatusChanges {
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly startedAt: number) {}

  lines(message: MessageChange): StatusLine[] {
    const key = `${message.tenantId}\u0000${message.id}`;
    const before = this.seen.get(key);
    const timeline = message.timeline;
    if (
      before &&
      before.updatedAt === message.updatedAt &&
      before.status === message.status &&
      before.entries === timeline.length
    )
      return [];
    let from = before?.entries ?? 0;
    if (!before) while (from < timeline.length && Date.parse(timeline[from]!.at) < this.startedAt) from++;
    const base = {
      tenantId: message.tenantId,
      messageId: message.id,
      subscriberId: message.subscriberId,
      channel: message.channel,
    };
    const lines: StatusLine[] = timeline
      .slice(from)
      .filter((entry) => STATUSES.has(entry.status))
      .map((entry) => ({
        ...base,
        at: Date.parse(entry.at),
        status: entry.status,
        reason: entry.detail ?? null,
      }));
    const said = lines.at(-1)?.status ?? before?.status;
    if (message.status !== said && (before !== undefined || message.updatedAt >= this.startedAt))
      lines.push({ ...base, at: message.updatedAt, status: message.status, reason: null });
    // The stable reason code says more than the entry's prose for the status the message is in.
    const last = lines.at(-1);
    if (last && message.reason && last.status === message.status)
      last.reason = last.reason ? `${message.reason}: ${last.reason}` : message.reason;
    this.seen.set(key, {
      entries: timeline.length,
      status: message.status,
      updatedAt: message.updatedAt,
      createdAt: message.createdAt,
    });
    return lines;
  }

  /** Forgets messages created before `createdFrom`: the window no longer reads them. */
  forgetBefore(createdFrom: number): void {
    for (const [key, seen] of this.seen) if (seen.createdAt < createdFrom) this.seen.delete(key);
  }
}

const GOOD: ReadonlySet<string> = new Set(['sent', 'delivered', 'read', 'clicked']);
const BAD: ReadonlySet<string> = new Set(['failed', 'bounced', 'dead']);
const QUIET: ReadonlySet<string> = new Set(['cancelled', 'suppressed', 'rate_limited']);

function colourStatus(paint: Paint, status: string): string {
  const padded = status.padEnd(12);
  if (GOOD.has(status)) return paint.green(padded);
  if (BAD.has(status)) return paint.red(padded);
  if (QUIET.has(status)) return paint.dim(padded);
  return paint.yellow(padded);
}

export function formatLine(line: StatusLine, paint: Paint, showTenant: boolean): string {
  const parts = [
    paint.dim(iso(line.at)),
    ...(showTenant ? [paint.cyan(printable(line.tenantId))] : []),
    printable(line.messageId),
    printable(line.subscriberId),
    printable(line.channel).padEnd(7),
    colourStatus(paint, line.status as MessageStatus),
    printable(line.reason ?? ''),
  ];
  return parts.join('  ').trimEnd();
}

async function tenantsOf(store: Store): Promise<string[]> {
  const ids: string[] = [];
  for (let after: string | null = null; ; ) {
    const page = await store.listTenants(after, PAGE);
    ids.push(...page.map((t) => t.id));
    if (page.length < PAGE) return ids;
    after = page.at(-1)!.id;
  }
}

/**
 * `tidings tail`: follows message status changes by polling the store (every 250 ms) for the
 * messages of the last --window whose `updatedAt` moved — straight on the database, so it sees
 * every process's work on PostgreSQL and on SQLite alike, with no server needed. Each poll reads
 * the last 5 s again, so a change committed late is not missed; lines already printed are not
 * printed twice. Ctrl-C (or SIGTERM) stops it with exit code 0.
 */
export async function tailCommand(args: string[], config: Config): Promise<void> {
  const { options, words } = parseOptions(args, ['tenant', 'workflow', 'window'], TAIL_USAGE);
  if (words.length > 0) throw new UsageError(`tidings tail: unexpected "${words[0]}"\n\n${TAIL_USAGE}`);
  const windowMs = parseDuration(options.window ?? '1h');
  if (windowMs === null || windowMs <= 0)
    throw new UsageError(`tidings tail: --window is a duration like 30m, 1h or 2d\n\n${TAIL_USAGE}`);
  const store = await openStore(config);
  if (options.tenant !== undefined && !(await store.tenantExists(options.tenant))) {
    await store.close();
    process.stderr.write(`tidings: no tenant "${options.tenant}"\n`);
    process.exitCode = 1;
    return;
  }
  const paint = paintFor(process.stdout);
  const startedAt = Date.now();
  const changes = new StatusChanges(startedAt);
  const cursors = new Map<string, number>();
  let tenants: string[] = options.tenant !== undefined ? [options.tenant] : [];
  let tenantsReadAt = Number.NEGATIVE_INFINITY;
  let stopping = false;
  let wake: (() => void) | null = null;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stderr.write(
    `following message status changes on ${describeDatabase(config)}${options.tenant ? ` (tenant ${options.tenant})` : ''}${options.workflow ? ` (workflow ${options.workflow})` : ''}; Ctrl-C stops\n`,
  );
  try {
    while (!stopping) {
      const now = Date.now();
      if (options.tenant === undefined && now - tenantsReadAt >= TENANTS_EVERY_MS) {
        tenants = await tenantsOf(store);
        tenantsReadAt = now;
      }
      const createdFrom = now - windowMs;
      const out: StatusLine[] = [];
      for (const tenantId of tenants) {
        let changedFrom = cursors.get(tenantId) ?? startedAt - OVERLAP_MS;
        for (;;) {
          const page = await store.messageChanges({
            tenantId,
            createdFrom,
            changedFrom,
            limit: PAGE,
            ...(options.workflow !== undefined ? { workflow: options.workflow } : {}),
          });
          for (const message of page) out.push(...changes.lines(message));
          if (page.length < PAGE) break;
          // A full page: read on from its last change (a page of one millisecond moves past it).
          const last = page.at(-1)!.updatedAt;
          changedFrom = last > changedFrom ? last : changedFrom + 1;
        }
        cursors.set(tenantId, Math.max(changedFrom, now - OVERLAP_MS));
      }
      out.sort((a, b) => a.at - b.at);
      const showTenant = tenants.length > 1;
      for (const line of out) process.stdout.write(`${formatLine(line, paint, showTenant)}\n`);
      changes.forgetBefore(createdFrom);
      if (stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await store.close();
  }
}
