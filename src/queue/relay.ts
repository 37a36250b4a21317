import type { Lane } from '../shared/model.ts';
import type { Store } from '../store/port.ts';
import type { JobSignal } from './signal.ts';

const ANY_LANE = '*';

/**
 * Connects a process's JobSignal to the other processes on the same store: local notifications
 * are announced to them (the lane as payload), and with `listen` their announcements wake this
 * process's workers — all lanes after the listener reconnects, since announcements sent
 * meanwhile were lost. Answers how to disconnect; a store without cross-process wake-ups leaves
 * idle workers to poll.
 */
export async function relayJobSignal(
  store: Store,
  signal: JobSignal,
  options: { listen: boolean },
): Promise<() => Promise<void>> {
  if (!store.capabilities.crossProcessWakeups || !store.openChannel) return async () => undefined;
  const channel = await store.openChannel(
    'jobs',
    options.listen
      ? (payload) => signal.notify(payload === ANY_LANE ? null : (payload as Lane), 'remote')
      : null,
    () => signal.notify(null, 'remote'),
  );
  const unsubscribe = signal.subscribe((lane, origin) => {
    if (origin === 'local') channel.publish(lane ?? ANY_LANE);
  });
  return async () => {
    unsubscribe();
    await channel.close();
  };
}
