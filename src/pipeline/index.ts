import type { JobHandler } from '../queue/handler.ts';
import { deliverHandler } from './deliver.ts';
import type { PipelineDeps } from './deps.ts';
import { fanoutHandler } from './fanout.ts';
import { sendHandler } from './send.ts';

export type { PipelineDeps } from './deps.ts';
export { JOB_KINDS } from './deps.ts';

/** Every job handler of the delivery pipeline: fanout → deliver → send. */
export function pipelineHandlers(deps: PipelineDeps): JobHandler[] {
  return [fanoutHandler(deps), deliverHandler(deps), sendHandler(deps)];
}
