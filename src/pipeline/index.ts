import { erasureHandler } from '../privacy/erasure.ts';
import type { JobHandler } from '../queue/handler.ts';
import { endpointEventHandler } from '../webhooks/deliver.ts';
import { deliverHandler } from './deliver.ts';
import type { PipelineDeps } from './deps.ts';
import { digestHandler } from './digest.ts';
import { fallbackHandler } from './fallback.ts';
import { fanoutHandler } from './fanout.ts';
import { inboxWakeHandler } from './inbox-wake.ts';
import { releaseHandlers } from './release-deferred.ts';
import { sendHandler } from './send.ts';

export type { PipelineDeps } from './deps.ts';
export { JOB_KINDS } from './deps.ts';

/** Every job handler of the delivery pipeline: fanout → deliver (→ digest at a window's close) → send (→ fallback); inbox snoozes ending; erasures; held messages released after a change of quiet hours. */
export function pipelineHandlers(deps: PipelineDeps): JobHandler[] {
  const handlers = [
    fanoutHandler(deps),
    deliverHandler(deps),
    digestHandler(deps),
    sendHandler(deps),
    fallbackHandler(deps),
    inboxWakeHandler(deps),
    erasureHandler(deps.store),
    ...releaseHandlers(deps),
  ];
  if (deps.webhooks) {
    const { emitter, keyring } = deps.webhooks;
    handlers.push(
      endpointEventHandler({
        store: deps.store,
        outbound: deps.providers.outbound,
        keyring,
        emitter,
        ...(deps.tally ? { tally: deps.tally } : {}),
      }),
    );
  }
  return handlers;
}
