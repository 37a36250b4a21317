import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';

/** Liveness, readiness and metrics; also served alone by a worker with TIDINGS_WORKER_PORT. */
export async function healthRoutes(
  app: FastifyInstance,
  context: Pick<ApiContext, 'store' | 'metrics'>,
): Promise<void> {
  const open = { config: { auth: 'none' as const }, schema: { security: [] } };
  app.get('/healthz', open, async () => ({ status: 'ok' }));
  app.get('/readyz', open, async () => {
    try {
      await context.store.tenantExists('default');
    } catch {
      throw new ApiError('unavailable', 'the store is not reachable');
    }
    return { status: 'ready' };
  });
  app.get('/metrics', open, async (_request, reply) => {
    void reply.type(context.metrics.registry.contentType);
    return context.metrics.registry.metrics();
  });
}
