import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isMainThread, workerData } from 'node:worker_threads';

/**
 * This process among the processes on one store, for messages between them (the inbox relay's
 * envelopes). Host and pid alone are not unique: containers of one image can share a hostname and
 * all run as PID 1, and each would take the other's messages for its own; hence the random part.
 * Made once by the main thread; its threads are handed it ({@link processNameData}) so they count
 * as the same process.
 */
export const PROCESS_NAME: string =
  given() ?? `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;

function given(): string | null {
  const name = isMainThread ? undefined : (workerData as { processName?: unknown } | null)?.processName;
  return typeof name === 'string' ? name : null;
}

/** What a thread's workerData carries for {@link PROCESS_NAME}. */
export const processNameData = () => ({ processName: PROCESS_NAME });
