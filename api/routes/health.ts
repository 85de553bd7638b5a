import type { FastifyPluginAsync } from 'fastify';
import type { ApiDeps } from '../deps';

/**
 * How long one readiness answer is reused. Probes come every few seconds; a flood of /readyz (it is
 * unauthenticated and not rate-limited, so load balancers are never refused) must not turn into a
 * flood of database and Temporal calls: at most one check per second reaches them, whatever the rate.
 */
export const READINESS_CACHE_MS = 1_000;

type Checks = Record<'database' | 'temporal', 'ok' | 'down'>;

/** Liveness says the process answers; readiness says it can do its job (database and Temporal). */
export function healthRoutes(
  deps: Pick<ApiDeps, 'pool' | 'temporal'> & { readinessCacheMs?: number; now?: () => number },
): FastifyPluginAsync {
  const cacheMs = deps.readinessCacheMs ?? READINESS_CACHE_MS;
  const now = deps.now ?? Date.now;
  let cached: { at: number; checks: Checks } | undefined;
  // One check in flight at a time: requests arriving while it runs share its answer.
  let inFlight: Promise<Checks> | undefined;

  async function check(): Promise<Checks> {
    const [database, temporal] = await Promise.all([
      deps.pool.query('SELECT 1').then(
        () => 'ok' as const,
        () => 'down' as const,
      ),
      deps.temporal.workflowService.getSystemInfo({}).then(
        () => 'ok' as const,
        () => 'down' as const,
      ),
    ]);
    return { database, temporal };
  }

  function readiness(): Promise<Checks> {
    if (cached !== undefined && now() - cached.at < cacheMs) return Promise.resolve(cached.checks);
    inFlight ??= check()
      .then((checks) => {
        cached = { at: now(), checks };
        return checks;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  return async (app) => {
    app.get('/healthz', { config: { rateLimit: false } }, () => Promise.resolve({ status: 'ok' }));
    app.get('/readyz', { config: { rateLimit: false } }, async (_request, reply) => {
      const checks = await readiness();
      const ready = Object.values(checks).every((c) => c === 'ok');
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks });
    });
  };
}
