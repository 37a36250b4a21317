import type { JobHandler } from '../queue/handler.ts';
import { deliverHandler } from './deliver.ts';
import type { PipelineDeps } from './deps.ts';
import { digestHandler } from './digest.ts';
import { fanoutHandler } from './fanout.ts';
import { inboxWakeHandler } from './inbox-wake.ts';
import { sendHandler } from './send.ts';

export type { PipelineDeps } from './deps.ts';
export { JOB_KINDS } from './deps.ts';

/** Every job handler of the delivery pipeline: fanout → deliver (→ digest at a window's close) → send; inbox snoozes ending. */
export function pipelineHandlers(deps: PipelineDeps): JobHandler[] {
  return [
    fanoutHandler(deps),
    deliverHandler(deps),
    digestHandler(deps),
    sendHandler(deps),
    inboxWakeHandler(deps),
  ];
}
