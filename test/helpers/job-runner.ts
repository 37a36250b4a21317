import { InboxFeed } from '../../src/inbox/feed.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { pipelineHandlers } from '../../src/pipeline/index.ts';
import { ProviderRegistry } from '../../src/providers/registry.ts';
import { JobSignal } from '../../src/queue/signal.ts';
import { LANES } from '../../src/shared/model.ts';
import type { Job, Store } from '../../src/store/port.ts';
import { TemplateCache } from '../../src/templates/render.ts';
import type { TestServer } from './server.ts';

/**
 * The pipeline of a server started without a worker (roles ['api']), run by the test itself: it
 * decides when each job runs (and may take one out to run it its own way), with the pipeline's
 * own handlers on the server's store.
 */
export interface JobRunner {
  deps: PipelineDeps;
  owner: string;
  /**
   * Runs every job due by `now` (default: the clock) with its handler, one at a time, until none
   * is; a job `held` picks is kept leased instead, not run, and answered (null once none is due).
   */
  run(options?: { now?: number; held?: (job: Job) => boolean }): Promise<Job | null>;
  /** Runs one job this runner holds (one `run` answered) with its handler. */
  runJob(job: Job): Promise<void>;
  /** `run()` with the handlers reading and writing through `store` (one wrapping the server's). */
  runOn(store: Store): Promise<Job | null>;
}

export function jobRunner(server: TestServer): JobRunner {
  const { store, keys } = server.tidings;
  const deps: PipelineDeps = {
    store,
    signal: new JobSignal(),
    templates: new TemplateCache(),
    providers: new ProviderRegistry(store, keys.credentialKeyring),
    inboxFeed: new InboxFeed(),
  };
  const owner = 'test-runner';
  const handlers = new Map(pipelineHandlers(deps).map((handler) => [handler.kind, handler]));
  async function runJob(job: Job): Promise<void> {
    const handler = handlers.get(job.kind);
    if (!handler) throw new Error(`no handler for ${job.kind} job ${job.id}`);
    const [result] = await handler.run([job], { owner });
    if (result!.kind === 'done') await store.completeJobs(owner, [job.id]);
    else if (result!.kind !== 'acked')
      throw new Error(`${job.kind} job ${job.id}: ${JSON.stringify(result)}`);
  }
  const runner: JobRunner = {
    deps,
    owner,
    runJob,
    async runOn(wrapped) {
      Object.assign(deps, { store: wrapped });
      try {
        return await runner.run();
      } finally {
        Object.assign(deps, { store });
      }
    },
    async run({ now, held } = {}) {
      for (;;) {
        const jobs = await store.claimJobs({
          owner,
          now: now ?? Date.now(),
          leaseMs: 60_000,
          quotas: LANES.map((lane) => ({ lane, limit: 1 })),
        });
        if (jobs.length === 0) return null;
        const keep = jobs.find((job) => held?.(job));
        if (keep) {
          await store.releaseLeasesOf(owner, [keep.id], { refundAttempt: true });
          return keep;
        }
        for (const job of jobs) await runJob(job);
      }
    },
  };
  return runner;
}
