import { randomUUID } from 'node:crypto';
import { type EventView, Tidings, TidingsError } from '../../client/index.js';
import { parseOptions, UsageError } from './arguments.ts';
import { paintFor } from './terminal.ts';

export const SEND_USAGE = `usage: tidings send WORKFLOW SUBSCRIBER... [--data JSON] [--idempotency-key KEY] [--wait SECONDS]
  Sends through the running server's API: TIDINGS_URL and TIDINGS_API_KEY as the start banner
  exports them. The key chooses the tenant (tidings key create --tenant ID makes one for another).`;

/** How long `send` watches the event's messages by default before it prints what it saw. */
const DEFAULT_WAIT_S = 5;
const POLL_MS = 100;

function usage(message: string): UsageError {
  return new UsageError(`tidings send: ${message}\n\n${SEND_USAGE}`);
}

/** --data: a JSON object, or a usage error that says what is wrong with it. */
export function parseData(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw usage(`--data is not valid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw usage('--data must be a JSON object, e.g. --data \'{"name":"Ada"}\'');
  return value as Record<string, unknown>;
}

const SETTLED = new Set(['completed', 'cancelled']);

/**
 * `tidings send`: triggers an event over HTTP, as any producer would — the server validates it,
 * applies the idempotency key (generated unless given, so the client's own retries never send
 * twice) and wakes its workers. It then watches the event for up to --wait seconds (until every
 * message settled) and prints the event id and each message it saw with its status.
 */
export async function sendCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { options, words } = parseOptions(args, ['data', 'idempotency-key', 'wait', 'tenant'], SEND_USAGE);
  if (options.tenant !== undefined)
    throw usage(
      'send goes through the API, where the key is the tenant: export TIDINGS_API_KEY as a key of that tenant (tidings key create --tenant ID prints one)',
    );
  const [workflow, ...subscribers] = words;
  if (!workflow || subscribers.length === 0) throw usage('name a workflow and at least one subscriber');
  const data = parseData(options.data);
  const waitS = options.wait === undefined ? DEFAULT_WAIT_S : Number(options.wait);
  if (!Number.isFinite(waitS) || waitS < 0 || waitS > 600)
    throw usage('--wait is a number of seconds from 0 to 600');
  const url = env.TIDINGS_URL;
  const apiKey = env.TIDINGS_API_KEY;
  if (!url || !URL.canParse(url))
    throw usage('TIDINGS_URL is not set to the server URL (the start banner prints the export line)');
  if (!apiKey) throw usage('TIDINGS_API_KEY is not set (the start banner prints the export line)');

  const client = new Tidings({ url, apiKey });
  const idempotencyKey = options['idempotency-key'] ?? `cli-${randomUUID()}`;
  const paint = paintFor(process.stdout);
  let view: EventView | null = null;
  try {
    const accepted = await client.events.trigger(
      { workflow, to: subscribers, ...(data ? { data } : {}) },
      { idempotencyKey },
    );
    process.stdout.write(
      `event ${accepted.eventId} ${accepted.duplicate ? 'already accepted (same idempotency key: nothing sent again)' : 'accepted'}\n`,
    );
    const deadline = Date.now() + waitS * 1000;
    for (;;) {
      view = await client.events.get(accepted.eventId);
      if (SETTLED.has(view.status) || Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } catch (error) {
    if (!(error instanceof TidingsError)) throw error;
    const where = error.status === 0 ? ` (is the server running at ${url}?)` : '';
    const details = error.details.map((d) => `\n  ${JSON.stringify(d)}`).join('');
    process.stderr.write(`tidings send: ${error.code}: ${error.message}${where}${details}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`status ${view.status}\n`);
  // A settled event without messages made none (its recipients were gone, its steps skipped).
  if (view.messages.length === 0 && SETTLED.has(view.status))
    process.stdout.write(paint.dim('no messages (the event finished without sending any)\n'));
  else if (view.messages.length === 0)
    process.stdout.write(paint.dim('no messages yet (they appear as the workers fan the event out)\n'));
  for (const message of view.messages) {
    const reason = message.reason ? ` ${message.reason}` : '';
    process.stdout.write(
      `  ${message.messageId}  ${message.subscriberId}  ${message.channel}  ${message.status}${reason}\n`,
    );
  }
}
