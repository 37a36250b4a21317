import type { FastifyInstance } from 'fastify';
import { storeFailureReason } from '../../store/failure-reason.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';

/** Liveness, readiness and metrics; also served alone by a worker with TIDINGS_WORKER_PORT. */
export async function healthRoutes(
  app: FastifyInstance,
  context: Pick<ApiContext, 'store' | 'metrics' | 'workerHealth'>,
): Promise<void> {
  const open = { config: { auth: 'none' as const }, schema: { security: [] } };
  app.get('/healthz', open, async () => ({ status: 'ok' }));
  // Ready means this process can do its work: the store answers queries that read its tables
  // (a damaged file fails them), and its workers, if any, are running and claiming jobs.
  app.get('/readyz', open, async () => {
    try {
      await context.store.probe();
    } catch (error) {
      throw new ApiError('unavailable', `the store fails queries (${storeFailureReason(error)})`);
    }
    const workers = context.workerHealth?.() ?? null;
    if (workers !== null) throw new ApiError('unavailable', workers);
    return { status: 'ready' };
  });
  app.get('/metrics', open, async (_request, reply) => {
    void reply.type(context.metrics.registry.contentType);
    return context.metrics.registry.metrics();
  });
}
