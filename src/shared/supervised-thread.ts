import { type ResourceLimits, Worker as Thread } from 'node:worker_threads';
import type { Logger } from '../telemetry/logger.ts';

const RESTART_DELAY_MS = 1000;

/** A thread started from `entry` that posts `{ type: 'ready', … }` once it is up. */
export interface SupervisedThread<Ready> {
  /** The thread running now (a restart replaces it) and the ready message it sent. */
  readonly current: { thread: Thread; ready: Ready };
  post(message: unknown): void;
  /** Posts `message` (the thread's own stop request) and waits for it to exit, terminating it after `graceMs`. */
  stop(message: unknown, graceMs: number): Promise<void>;
}

export interface SuperviseOptions {
  /** For logs: "worker thread", "checkpoint thread". */
  name: string;
  entry: URL;
  workerData: unknown;
  /** The thread's heap limits (Node's defaults where unset). */
  resourceLimits?: ResourceLimits;
  logger: Logger;
  /** Every message of every incarnation of the thread, the ready one included. */
  onMessage?: (message: unknown) => void;
  /** An incarnation exited (stopped, or died and about to be restarted): undo what it left. */
  onExit?: () => void;
}

/**
 * Starts a thread and keeps it running: start-up fails if it exits or throws before it is ready;
 * after that, a thread that exits unexpectedly is logged and started again a second later.
 */
export async function superviseThread<Ready extends { type: 'ready' }>(
  options: SuperviseOptions,
): Promise<SupervisedThread<Ready>> {
  const { name, logger } = options;
  let stopping = false;

  const spawn = () =>
    new Promise<Incarnation<Ready>>((resolve, reject) => {
      const thread = new Thread(options.entry, {
        workerData: options.workerData,
        ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
      });
      const exited = new Promise<void>((done) =>
        thread.once('exit', () => {
          options.onExit?.();
          done();
        }),
      );
      const onEarlyExit = (code: number) =>
        reject(new Error(`${name} exited during start-up (code ${code})`));
      thread.once('error', reject);
      thread.once('exit', onEarlyExit);
      if (options.onMessage) thread.on('message', options.onMessage);
      const onReady = (message: { type?: string } | null) => {
        if (message?.type !== 'ready') return;
        thread.off('message', onReady);
        thread.off('error', reject);
        thread.off('exit', onEarlyExit);
        thread.on('error', (error) => logger.error({ err: error }, `${name} failed`));
        thread.once('exit', (code) => {
          if (stopping) return;
          logger.error({ code }, `${name} exited; restarting it`);
          setTimeout(() => {
            if (stopping) return;
            spawn().then(
              (next) => (current = next),
              (error) => logger.error({ err: error }, `${name} restart failed`),
            );
          }, RESTART_DELAY_MS);
        });
        resolve({ thread, ready: message as Ready, exited });
      };
      thread.on('message', onReady);
    });

  let current = await spawn();
  return {
    get current() {
      return current;
    },
    post(message) {
      current.thread.postMessage(message);
    },
    async stop(message, graceMs) {
      stopping = true;
      // If this thread died and its restart is now cancelled, `exited` has resolved already.
      const { thread, exited } = current;
      thread.postMessage(message);
      const timer = setTimeout(() => void thread.terminate(), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface Incarnation<Ready> {
  thread: Thread;
  ready: Ready;
  exited: Promise<void>;
}
