import type { Store } from '../store/port.ts';
import type { JobSignal } from './signal.ts';

/**
 * Connects a process's JobSignal to the other processes on the same store: local notifications
 * are announced to them, and with `listen` their announcements wake this process's workers.
 * Answers how to disconnect; a store without cross-process wake-ups leaves idle workers to poll.
 */
export async function relayJobSignal(
  store: Store,
  signal: JobSignal,
  options: { listen: boolean },
): Promise<() => Promise<void>> {
  if (!store.capabilities.crossProcessWakeups || !store.listenForJobs) return async () => undefined;
  const wakeups = await store.listenForJobs((lane) => {
    if (options.listen) signal.notify(lane, 'remote');
  });
  const unsubscribe = signal.subscribe((lane, origin) => {
    if (origin === 'local') wakeups.announce(lane);
  });
  return async () => {
    unsubscribe();
    await wakeups.close();
  };
}
