import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { PracticeRegistry } from '../../lib/practices';
import { findStaff, findStaffForIdentity } from '../../lib/review/staff';
import { OidcLoginError, type OidcLogin } from '../auth/oidc';
import { ROLE_LABELS } from '../auth/roles';
import type { WebSessions } from '../auth/session';
import { safeReturnPath } from './guards';
import { renderPage, type Notice } from './page';

/**
 * Signing in and out: single sign-on (authorization code + PKCE, see api/auth/oidc.ts), the sandbox's
 * demo sign-in (only when enabled, never in production), and logout (POST with a CSRF token, so a
 * link on another site cannot sign anyone out).
 */
export interface AuthRouteDeps {
  sessions: WebSessions;
  practices: PracticeRegistry;
  oidc?: OidcLogin;
  demoLogin: boolean;
  idleMinutes: number;
}

const LoginQuery = z.object({
  next: z.string().max(512).optional(),
  expired: z.literal('1').optional(),
  signedOut: z.literal('1').optional(),
});

const DemoLoginBody = z.object({
  staff: z.string().regex(/^[A-Za-z0-9_-]{1,64}\/[^/]{1,128}$/, 'must be a practice/staff choice from the list'),
  next: z.string().max(512).optional(),
});

export function authRoutes(app: FastifyInstance, deps: AuthRouteDeps): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  const loginPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    options: { next: string; notice?: Notice; status?: number },
  ) => {
    const demoStaff = deps.demoLogin
      ? deps.practices.all().map((entry) => ({
          practiceName: entry.policy.practiceName,
          staff: entry.policy.staff.map((s) => ({
            value: `${entry.policy.practiceId}/${s.id}`,
            label: `${s.name} (${ROLE_LABELS[s.role]})`,
          })),
        }))
      : [];
    return renderPage(
      request,
      reply,
      'login',
      'Sign in',
      {
        oidcEnabled: deps.oidc !== undefined,
        ssoHref: `/review/auth/sso?${new URLSearchParams({ next: options.next }).toString()}`,
        demoLogin: deps.demoLogin,
        demoStaff,
        next: options.next,
        notice: options.notice,
      },
      options.status,
    );
  };

  routes.get('/login', { schema: { querystring: LoginQuery } }, async (request, reply) => {
    const next = safeReturnPath(request.query.next);
    if (request.reviewSession?.kind === 'signed-in') return reply.code(303).redirect(next);
    let notice: Notice | undefined;
    if (request.query.expired !== undefined) {
      notice = {
        kind: 'info',
        text: `You were signed out after ${deps.idleMinutes} minutes without activity (or your session reached its time limit). Sign in again to continue.`,
      };
    } else if (request.query.signedOut !== undefined) {
      notice = { kind: 'success', text: 'You are signed out.' };
    }
    return loginPage(request, reply, { next, ...(notice === undefined ? {} : { notice }) });
  });

  routes.get(
    '/auth/sso',
    { schema: { querystring: z.object({ next: z.string().max(512).optional() }) } },
    async (request, reply) => {
      const next = safeReturnPath(request.query.next);
      if (deps.oidc === undefined) {
        return loginPage(request, reply, {
          next,
          notice: { kind: 'error', text: 'Single sign-on is not configured here.' },
          status: 404,
        });
      }
      try {
        const { url, checks } = await deps.oidc.begin();
        await deps.sessions.beginLogin(reply, { ...checks, returnTo: next });
        return await reply.code(303).redirect(url.toString());
      } catch (err) {
        if (!(err instanceof OidcLoginError)) throw err;
        request.log.warn({ kind: err.kind }, 'review app: SSO sign-in could not start');
        return loginPage(request, reply, { next, notice: { kind: 'error', text: err.reason }, status: 503 });
      }
    },
  );

  routes.get('/auth/callback', async (request, reply) => {
    const attempt = await deps.sessions.takeLogin(request, reply);
    if (deps.oidc === undefined || attempt === undefined) {
      return loginPage(request, reply, {
        next: '/review/queue',
        notice: {
          kind: 'error',
          text: 'This sign-in could not be matched to one started in this browser (it may have expired or been used already). Please sign in again.',
        },
        status: 400,
      });
    }
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    try {
      const identity = await deps.oidc.complete(query, attempt);
      const found = findStaffForIdentity(deps.practices, identity);
      if (found.kind !== 'found') {
        request.log.warn({ outcome: found.kind }, 'review app: SSO identity is not a staff member');
        const text =
          found.kind === 'ambiguous'
            ? 'Your account matches more than one staff entry. Ask your practice administrator to set your single sign-on subject in the practice configuration.'
            : 'Your account is not set up as staff of a practice here (no staff member has your verified work email). Ask your practice administrator to add you.';
        return await loginPage(request, reply, {
          next: attempt.returnTo,
          notice: { kind: 'error', text },
          status: 403,
        });
      }
      await deps.sessions.signIn(request, reply, {
        practiceId: found.match.practice.practiceId,
        staffId: found.match.staff.id,
        authMethod: 'oidc',
        oidcSubject: identity.subject,
      });
      request.log.info(
        { staffId: found.match.staff.id, practiceId: found.match.practice.practiceId, method: 'oidc' },
        'review app: signed in',
      );
      return await reply.code(303).redirect(safeReturnPath(attempt.returnTo));
    } catch (err) {
      if (!(err instanceof OidcLoginError)) throw err;
      request.log.warn({ kind: err.kind }, 'review app: SSO callback refused');
      return loginPage(request, reply, {
        next: attempt.returnTo,
        notice: { kind: 'error', text: err.reason },
        status: err.kind === 'unavailable' ? 503 : 400,
      });
    }
  });

  if (deps.demoLogin) {
    routes.post(
      '/auth/demo',
      // CSRF (a forged sign-in) is checked as on every form: requireCsrfByDefault.
      { schema: { body: DemoLoginBody } },
      async (request, reply) => {
        const [practiceId = '', staffId = ''] = request.body.staff.split('/');
        const match = findStaff(deps.practices, practiceId, staffId);
        const next = safeReturnPath(request.body.next);
        if (match === undefined) {
          return loginPage(request, reply, {
            next,
            notice: { kind: 'error', text: 'That staff member is not in the practice configuration.' },
            status: 400,
          });
        }
        await deps.sessions.signIn(request, reply, { practiceId, staffId, authMethod: 'demo' });
        request.log.info({ staffId, practiceId, method: 'demo' }, 'review app: signed in');
        return reply.code(303).redirect(next);
      },
    );
  }

  routes.post(
    '/logout',
    {
      preValidation: [
        async (request, reply) => {
          // Nothing to protect once the session is gone (expired, or signed out in another tab).
          if (request.reviewSession?.kind === 'signed-in') return undefined;
          return reply.code(303).redirect('/review/login?signedOut=1');
        },
        // Then the CSRF check, which requireCsrfByDefault appends.
      ],
    },
    async (request, reply) => {
      await deps.sessions.signOut(request, reply);
      return reply.code(303).redirect('/review/login?signedOut=1');
    },
  );
}
