import path from 'node:path';
import formbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import fastifyView from '@fastify/view';
import { createAuditLog } from '../../lib/audit';
import type { Client } from '@temporalio/client';
import { Eta } from 'eta';
import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { Pool } from 'pg';
import type { Logger } from '../../lib/logger';
import type { PracticeRegistry } from '../../lib/practices';
import { isCsrfError, registerCsrf, requireCsrfByDefault } from '../auth/csrf';
import { createOidcLogin } from '../auth/oidc';
import { createWebSessions } from '../auth/session';
import { authRoutes } from './routes-auth';
import { callTaskRoutes } from './routes-calls';
import { queueRoutes } from './routes-queue';
import { messagePage, resultRoutes } from './routes-result';
import type { ReviewAppSettings } from './settings';
import { publicUrl } from '../../lib/public-url';

/**
 * The provider review app, served by the API under /review: server-rendered pages (eta) with htmx
 * as progressive enhancement, single sign-on, PostgreSQL sessions, CSRF on every form and roles
 * checked on every route. Register with `{ prefix: '/review' }`.
 */

export const REVIEW_PREFIX = '/review';
export const VIEWS_DIR = path.join(__dirname, 'views');
export const STATIC_DIR = path.join(__dirname, 'static');
/** htmx is served from our own origin (the CSP allows scripts from 'self' only), straight from the package. */
const HTMX_DIR = path.dirname(require.resolve('htmx.org/dist/htmx.min.js'));
const STATIC_FILES = new Set(['review.css', 'review.js', 'htmx.min.js']);
/** Static files are not fingerprinted, so browsers recheck them hourly. */
const STATIC_MAX_AGE_MS = 60 * 60_000;
/** Forms carry a note of at most a few thousand characters; 32 KiB bounds them generously. */
const FORM_BODY_LIMIT_BYTES = 32 * 1024;

export interface ReviewAppDeps {
  pool: Pool;
  temporal: Client;
  practices: PracticeRegistry;
  logger: Logger;
  now: () => Date;
  /** The URL the browser reaches the API at (the SSO redirect URI is built from it). */
  publicBaseUrl: string;
  /** Undefined: no sign-in is configured, and the app says so instead of serving pages. */
  settings?: ReviewAppSettings;
}

export function reviewApp(deps: ReviewAppDeps): FastifyPluginAsync {
  return async (app) => {
    const { settings } = deps;
    if (settings === undefined) {
      app.get('/*', async (_request, reply) =>
        reply
          .code(503)
          .type('text/plain; charset=utf-8')
          .send(
            'The review app has no sign-in configured: set OIDC_ISSUER_URL, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and SESSION_SECRET (or, in development, NODE_ENV=development and LABLOOP_DEMO_LOGIN=true with SESSION_SECRET).',
          ),
      );
      return;
    }

    const sessions = createWebSessions({
      pool: deps.pool,
      practices: deps.practices,
      now: deps.now,
      settings: { idleMinutes: settings.idleMinutes, secureCookies: settings.secureCookies },
    });
    const oidc =
      settings.oidc === undefined
        ? undefined
        : createOidcLogin({
            ...settings.oidc,
            redirectUri: publicUrl(deps.publicBaseUrl, `${REVIEW_PREFIX}/auth/callback`),
          });

    await app.register(formbody, { bodyLimit: FORM_BODY_LIMIT_BYTES });
    await registerCsrf(app, {
      secret: settings.sessionSecret,
      secureCookies: settings.secureCookies,
      cookiePath: REVIEW_PREFIX,
    });
    // Before any route: every form the app has or gets is checked (api/auth/csrf.ts).
    requireCsrfByDefault(app);
    await app.register(fastifyView, {
      engine: { eta: new Eta({ views: VIEWS_DIR, autoEscape: true, cache: true }) },
      templates: VIEWS_DIR,
    });
    await app.register(fastifyStatic, {
      root: [STATIC_DIR, HTMX_DIR],
      prefix: '/static/',
      decorateReply: false,
      index: false,
      list: false,
      maxAge: STATIC_MAX_AGE_MS,
      allowedPath: (pathName) => STATIC_FILES.has(pathName.replace(/^\//, '')),
    });

    app.decorateRequest('reviewSession', undefined);
    app.decorateRequest('reviewUser', undefined);
    app.decorateRequest('csrfBinding', undefined);
    app.addHook('onRequest', async (request, reply) => {
      if (request.url.startsWith(`${REVIEW_PREFIX}/static/`)) return;
      const state = await sessions.resolve(request);
      request.reviewSession = state;
      if (state.kind === 'signed-in') request.csrfBinding = state.user.sessionKey;
      // A cookie whose session is gone (expired, logged out elsewhere) is cleared on whatever answer follows.
      else if (sessions.hasCookie(request)) sessions.forget(reply);
    });

    app.setErrorHandler(async (error: FastifyError, request, reply) => {
      if (hasZodFastifySchemaValidationErrors(error)) {
        const problems = error.validation
          .map((v) => `${v.instancePath.replace(/^\//, '').replace(/\//g, '.') || 'form'} ${v.message ?? 'is invalid'}`)
          .join('; ');
        return messagePage(request, reply, 400, 'Please check the form', `The form could not be used: ${problems}.`);
      }
      if (isCsrfError(error)) {
        return messagePage(
          request,
          reply,
          403,
          'Page expired',
          'This page is out of date for security reasons (its form token is missing or belongs to another sign-in). Reload the page and try again; nothing was changed.',
        );
      }
      const status = error.statusCode ?? 500;
      if (status >= 500) {
        request.log.error({ err: error }, 'review app request failed');
        return messagePage(
          request,
          reply,
          500,
          'Something went wrong',
          'The request could not be completed. Reload the page to see the current state before trying again.',
        );
      }
      return messagePage(request, reply, status, 'Request refused', error.message);
    });
    app.setNotFoundHandler(async (request, reply) =>
      messagePage(request, reply, 404, 'Page not found', 'There is no such page in the review app.'),
    );

    authRoutes(app, {
      sessions,
      practices: deps.practices,
      ...(oidc === undefined ? {} : { oidc }),
      demoLogin: settings.demoLogin,
      idleMinutes: settings.idleMinutes,
    });
    const audit = createAuditLog(deps.pool);
    queueRoutes(app, { pool: deps.pool, now: deps.now, audit });
    resultRoutes(app, { temporal: deps.temporal, now: deps.now, audit });
    callTaskRoutes(app, { pool: deps.pool, temporal: deps.temporal, now: deps.now, audit });
  };
}
