import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import { buildApp, type RegisteredRoute } from '../../api/app';
import { registerCsrf, requireCsrfByDefault } from '../../api/auth/csrf';
import { loadPracticeRegistry } from '../../lib/practices';
import { testApiDeps } from '../support/api-app';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { CookieJar, jarFetch } from '../support/oidc';

/**
 * CSRF on every form of the review app, as an inventory: every route under /review with a method
 * other than GET, HEAD and OPTIONS, as buildApp registers it, is posted without a token by a
 * signed-in provider, staff member and administrator. Each answer is 403, and for at least one of
 * them it is the CSRF refusal (not only a role refusal). A route added later is in the inventory
 * at once; the review app adds the check to it by default (requireCsrfByDefault), which the last
 * test shows on a bare Fastify instance.
 */

const practices = loadPracticeRegistry('config/practices.sandbox.json');
const SESSIONS = { provider: '195900/prov-1', staff: '195900/staff-1', administrator: '195900/admin-1' } as const;
const CSRF_REFUSAL = /out of date for security reasons/;
const SAMPLE_PARAMS: Record<string, string> = {
  workflowId: 'lab-result-195900-0123456789abcdef0123456789abcdef',
  taskId: 'task-1',
};
/** Fields each form would send, so a refusal cannot be the body validation answering instead. */
const SAMPLE_BODIES: Record<string, Record<string, string>> = {
  '/review/auth/demo': { staff: SESSIONS.provider },
  '/review/results/:workflowId/sign': { version: '1' },
  '/review/results/:workflowId/annotate': { text: 'Recheck in 3 months.' },
  '/review/calls/:taskId/complete': { outcome: 'reached' },
};

const concreteUrl = (pattern: string) =>
  pattern.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => SAMPLE_PARAMS[name] ?? 'x');

describe('CSRF on every unsafe review-app route', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let routes: readonly RegisteredRoute[];
  let base: string;
  const jars = {} as Record<keyof typeof SESSIONS, CookieJar>;

  before(async () => {
    db = await createTestDatabase('review_csrf');
    const deps = testApiDeps({
      pool: db.pool,
      practices,
      review: {
        sessionSecret: 'review-csrf-test-session-secret-0123456789',
        idleMinutes: 15,
        secureCookies: false,
        demoLogin: true,
        oidc: { issuerUrl: 'http://127.0.0.1:1/oidc', clientId: 'labloop', clientSecret: 'oidc-client-secret' },
      },
    });
    ({ app, routes } = await buildApp(deps));
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    for (const [role, staff] of Object.entries(SESSIONS) as [keyof typeof SESSIONS, string][]) {
      const jar = new CookieJar();
      const login = await jarFetch(jar, `${base}/review/login`);
      const token = /name="_csrf" value="([^"]+)"/.exec(await login.text())?.[1] ?? '';
      const signedIn = await jarFetch(jar, `${base}/review/auth/demo`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: token, staff, next: '/review/queue' }).toString(),
      });
      assert.equal(signedIn.status, 303, `${role} signed in`);
      jars[role] = jar;
    }
  });
  after(async () => {
    await app?.close();
    await db?.close();
  });

  const unsafe = () =>
    routes.filter((r) => r.url.startsWith('/review') && !['GET', 'HEAD', 'OPTIONS'].includes(r.method.toUpperCase()));

  it('finds the forms (the inventory is not empty and includes the known ones)', () => {
    const keys = unsafe().map((r) => `${r.method} ${r.url}`);
    for (const expected of [
      'POST /review/auth/demo',
      'POST /review/logout',
      'POST /review/results/:workflowId/sign',
      'POST /review/results/:workflowId/annotate',
      'POST /review/calls/:taskId/complete',
    ])
      assert.ok(keys.includes(expected), `${expected} is registered`);
  });

  it('refuses every one of them without a token, to every signed-in role, with 403', async () => {
    const problems: string[] = [];
    for (const route of unsafe()) {
      const answers: { role: string; status: number; csrf: boolean }[] = [];
      for (const [role, jar] of Object.entries(jars)) {
        const response = await jarFetch(jar, `${base}${concreteUrl(route.url)}`, {
          method: route.method,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(SAMPLE_BODIES[route.url] ?? {}).toString(),
        });
        answers.push({ role, status: response.status, csrf: CSRF_REFUSAL.test(await response.text()) });
      }
      const key = `${route.method} ${route.url}`;
      for (const a of answers.filter((x) => x.status !== 403))
        problems.push(`${key} answered ${a.status} to a ${a.role} without a CSRF token`);
      if (!answers.some((a) => a.csrf)) problems.push(`${key} never refused for the missing token (only for the role)`);
    }
    assert.deepEqual(
      problems,
      [],
      'every form of the review app needs a CSRF token (api/auth/csrf.ts requireCsrfByDefault)',
    );
    // Still signed in: the refusals changed nothing.
    assert.equal((await jarFetch(jars.provider, `${base}/review/queue`)).status, 200);
  });

  it('adds the check by default to a new unsafe route, and leaves exempt and safe routes alone', async () => {
    const bare = Fastify();
    try {
      await bare.register(formbody);
      await registerCsrf(bare, { secret: 'bare-secret-0123456789abcdef', secureCookies: false, cookiePath: '/' });
      requireCsrfByDefault(bare);
      bare.post('/new-form', async () => ({ changed: true }));
      bare.delete('/new-delete', async () => ({ changed: true }));
      bare.post('/callback', { config: { csrfExempt: 'the IdP posts here without our token' } }, async () => ({
        exempt: true,
      }));
      bare.get('/page', async () => ({ read: true }));
      for (const [method, url, expected] of [
        ['POST', '/new-form', 403],
        ['DELETE', '/new-delete', 403],
        ['POST', '/callback', 200],
        ['GET', '/page', 200],
      ] as const) {
        const response = await bare.inject({ method, url, payload: method === 'POST' ? { a: '1' } : undefined });
        assert.equal(response.statusCode, expected, `${method} ${url}: ${response.body}`);
      }
    } finally {
      await bare.close();
    }
  });
});
