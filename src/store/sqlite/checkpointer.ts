import { Worker as Thread } from 'node:worker_threads';
import type { Logger } from '../../telemetry/logger.ts';
import type { CheckpointPolicy } from './checkpoint-policy.ts';
import type { FromCheckpointThread, ToCheckpointThread } from './checkpoint-thread.ts';

const ENTRY = new URL('./checkpoint-thread-entry.mjs', import.meta.url);
const RESTART_DELAY_MS = 1000;

export interface CheckpointThread {
  stop(): Promise<void>;
}

/**
 * Starts the thread that checkpoints `file` in the background (see checkpoint-policy.ts). The
 * store's connections must be opened with `checkpoints: 'background'` and share `writeLock`. A
 * thread that dies is restarted; meanwhile the writers' backstop keeps the log bounded.
 */
export async function startCheckpointThread(
  file: string,
  writeLock: Int32Array,
  logger: Logger,
  policy?: Partial<CheckpointPolicy>,
): Promise<CheckpointThread> {
  let stopping = false;
  const spawn = () =>
    new Promise<{ thread: Thread; exited: Promise<void> }>((resolve, reject) => {
      const thread = new Thread(ENTRY, { workerData: { file, writeLock, policy } });
      const exited = new Promise<void>((done) => thread.once('exit', () => done()));
      thread.once('error', reject);
      thread.once('message', (message: FromCheckpointThread) => {
        if (message.type !== 'ready') return;
        thread.off('error', reject);
        thread.on('error', (error) => logger.error({ err: error }, 'checkpoint thread failed'));
        thread.once('exit', (code) => {
          if (stopping) return;
          logger.error({ code }, 'checkpoint thread exited; restarting it');
          setTimeout(() => {
            if (stopping) return;
            spawn().then(
              (next) => (current = next),
              (error) => logger.error({ err: error }, 'checkpoint thread restart failed'),
            );
          }, RESTART_DELAY_MS);
        });
        resolve({ thread, exited });
      });
    });
  let current = await spawn();
  return {
    async stop() {
      stopping = true;
      const { thread, exited } = current;
      thread.postMessage({ type: 'stop' } satisfies ToCheckpointThread);
      await exited;
    },
  };
}
