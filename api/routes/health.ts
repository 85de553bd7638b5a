import type { FastifyPluginAsync } from 'fastify';
import type { ApiDeps } from '../deps';

/** Liveness says the process answers; readiness says it can do its job (database and Temporal). */
export function healthRoutes(deps: Pick<ApiDeps, 'pool' | 'temporal'>): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', { config: { rateLimit: false } }, () => Promise.resolve({ status: 'ok' }));
    app.get('/readyz', { config: { rateLimit: false } }, async (_request, reply) => {
      const checks: Record<string, 'ok' | 'down'> = {};
      try {
        await deps.pool.query('SELECT 1');
        checks.database = 'ok';
      } catch {
        checks.database = 'down';
      }
      try {
        await deps.temporal.workflowService.getSystemInfo({});
        checks.temporal = 'ok';
      } catch {
        checks.temporal = 'down';
      }
      const ready = Object.values(checks).every((c) => c === 'ok');
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks });
    });
  };
}
