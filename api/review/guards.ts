import type { FastifyReply, FastifyRequest, preValidationAsyncHookHandler } from 'fastify';
import { can, refusalMessage, type Permission } from '../auth/roles';
import type { SessionState, SignedInUser } from '../auth/session';

declare module 'fastify' {
  interface FastifyRequest {
    /** The review-app session state, resolved once per request by the review plugin. */
    reviewSession?: SessionState;
    /** Set by requirePermission: the signed-in person the route acts for. */
    reviewUser?: SignedInUser;
  }
}

export function isHtmx(request: FastifyRequest): boolean {
  return request.headers['hx-request'] === 'true';
}

/** Where to come back to after signing in: only a path inside the review app (no open redirect). */
export function safeReturnPath(raw: unknown): string {
  if (typeof raw !== 'string') return '/review/queue';
  return /^\/review\/[A-Za-z0-9/_.?=&%-]*$/.test(raw) && !raw.startsWith('/review/auth') && !raw.includes('//')
    ? raw
    : '/review/queue';
}

/** The page a GET came from, for returning there after signing in. */
function returnPathFor(request: FastifyRequest): string {
  if (request.method === 'GET') return safeReturnPath(request.url);
  const referer = request.headers.referer;
  try {
    return referer === undefined ? '/review/queue' : safeReturnPath(new URL(referer).pathname);
  } catch {
    return '/review/queue';
  }
}

async function sendToLogin(request: FastifyRequest, reply: FastifyReply, expired: boolean): Promise<void> {
  const params = new URLSearchParams({ next: returnPathFor(request) });
  if (expired) params.set('expired', '1');
  const location = `/review/login?${params.toString()}`;
  if (isHtmx(request)) {
    // htmx follows HX-Redirect with a full page load; a 3xx would be followed inside the fragment.
    await reply.code(401).header('hx-redirect', location).send();
    return;
  }
  await reply.code(303).redirect(location);
}

/**
 * Only a signed-in person (holding `permission`, when given) gets past this. Anonymous and expired
 * sessions go to the sign-in page and come back; a signed-in person without the permission gets a
 * 403 that says who may do it.
 */
export function requirePermission(
  permission: Permission | undefined,
  onForbidden: (request: FastifyRequest, reply: FastifyReply, message: string) => Promise<void>,
): preValidationAsyncHookHandler {
  return async function guard(request, reply) {
    const state = request.reviewSession ?? { kind: 'anonymous' };
    if (state.kind !== 'signed-in') {
      await sendToLogin(request, reply, state.kind === 'expired');
      return;
    }
    if (permission !== undefined && !can(state.user.role, permission)) {
      request.log.info({ staffId: state.user.staff.id, permission }, 'review app: permission refused');
      await onForbidden(request, reply, refusalMessage(state.user.role, permission));
      return;
    }
    request.reviewUser = state.user;
  };
}

/** The route's signed-in user (requirePermission ran first; its absence is a wiring bug). */
export function userOf(request: FastifyRequest): SignedInUser {
  if (request.reviewUser === undefined) throw new Error('review route registered without requirePermission');
  return request.reviewUser;
}
