import { createHmac } from 'node:crypto';
import cookie from '@fastify/cookie';
import csrfProtection from '@fastify/csrf-protection';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  preValidationAsyncHookHandler,
  preValidationHookHandler,
} from 'fastify';

/**
 * CSRF protection for every form of the review app (@fastify/csrf-protection, secret in a signed
 * cookie). Each token is also bound to the session it was issued in (HMAC of the session key), so a
 * token from another session, or from before sign-in, is refused. Forms send it as `_csrf`; htmx
 * sends it as the `x-csrf-token` header (set once on the page's body with hx-headers).
 */

export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';
/** The binding used before anyone has signed in (the demo sign-in form). */
const ANONYMOUS = 'anonymous';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the CSRF token must belong to: the session key once signed in. Set by the review app. */
    csrfBinding?: string;
  }
  interface FastifyContextConfig {
    /**
     * Exempts an unsafe-method route from the CSRF check that requireCsrfByDefault adds, with the
     * reason (e.g. an identity provider's form_post callback, which cannot carry our token).
     */
    csrfExempt?: string;
  }
}

/** Methods that change nothing (RFC 9110 safe methods): the only ones a form may send without a token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Marks the hook csrfCheck returns, so requireCsrfByDefault can see a route already has it. */
const CSRF_HOOK = Symbol('labloop.csrf-check');

function tokenFrom(request: FastifyRequest): string | undefined {
  const body = request.body as Record<string, unknown> | undefined;
  const field = body?.[CSRF_FIELD];
  if (typeof field === 'string' && field !== '') return field;
  const header = request.headers[CSRF_HEADER];
  return typeof header === 'string' && header !== '' ? header : undefined;
}

/**
 * Registers cookie parsing and CSRF protection in the calling (encapsulated) scope. Call inside the
 * plugin whose routes need it. `secret` signs the cookie and keys the token HMAC (derived separately).
 */
export async function registerCsrf(
  app: FastifyInstance,
  options: { secret: string; secureCookies: boolean; cookiePath: string },
): Promise<void> {
  await app.register(cookie, { secret: derive(options.secret, 'cookie-signing') });
  await app.register(csrfProtection, {
    cookieKey: options.secureCookies ? '__Secure-labloop_csrf' : 'labloop_csrf',
    cookieOpts: {
      path: options.cookiePath,
      httpOnly: true,
      sameSite: 'strict',
      secure: options.secureCookies,
      signed: true,
    },
    getToken: tokenFrom,
    getUserInfo: (request) => request.csrfBinding ?? ANONYMOUS,
    csrfOpts: { hmacKey: derive(options.secret, 'csrf-token'), userInfo: true },
  });
}

/**
 * The CSRF check for routes in the scope registerCsrf ran in. A preValidation hook: the body is
 * parsed by then, and schema validation (which drops fields it does not know, `_csrf` among them)
 * has not run yet.
 */
export function csrfCheck(app: FastifyInstance): preValidationHookHandler {
  const hook: preValidationHookHandler = (request, reply, done) => app.csrfProtection(request, reply, done);
  return Object.assign(hook, { [CSRF_HOOK]: true });
}

function isCsrfHook(hook: unknown): boolean {
  return typeof hook === 'function' && (hook as unknown as Record<symbol, unknown>)[CSRF_HOOK] === true;
}

/**
 * Every route registered after this in the calling scope whose method is not GET, HEAD or OPTIONS
 * gets the CSRF check as its last preValidation hook (after its own guards, so an anonymous or
 * expired visitor is still sent to sign in), unless it has the check already or is marked
 * `config: { csrfExempt: 'why' }`. A new form is protected without anyone remembering to.
 */
export function requireCsrfByDefault(app: FastifyInstance): void {
  const check = csrfCheck(app);
  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat();
    if (methods.every((m) => SAFE_METHODS.has(m.toUpperCase()))) return;
    if (route.config?.csrfExempt !== undefined) return;
    const own: (preValidationHookHandler | preValidationAsyncHookHandler)[] =
      route.preValidation === undefined ? [] : [route.preValidation].flat();
    if (own.some(isCsrfHook)) return;
    route.preValidation = [...own, check];
  });
}

/** A token for the forms on the page being rendered, bound to the request's session (or to nobody). */
export function issueCsrfToken(request: FastifyRequest, reply: FastifyReply): string {
  return reply.generateCsrf({ userInfo: request.csrfBinding ?? ANONYMOUS });
}

/** True for the errors @fastify/csrf-protection raises (missing secret cookie, bad or foreign token). */
export function isCsrfError(error: { code?: string }): boolean {
  return error.code === 'FST_CSRF_MISSING_SECRET' || error.code === 'FST_CSRF_INVALID_TOKEN';
}

/** Separate keys for separate purposes, from the one configured secret. */
function derive(secret: string, purpose: string): string {
  return createHmac('sha256', secret).update(`labloop-review:${purpose}`).digest('base64url');
}
