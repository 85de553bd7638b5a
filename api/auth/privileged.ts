import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, RequestPayload } from 'fastify';
import type { StaffMember } from '../../domain/practice';

/**
 * Authentication for the privileged, non-ingest routes (the Temporal codec endpoint, the audit
 * export). Two kinds of caller are accepted:
 * - a bearer token from a dedicated set (LABLOOP_OPS_TOKENS, LABLOOP_ADMIN_TOKENS): scripts and the
 *   Temporal CLI (`--codec-auth "Bearer <token>"`). Ingest tokens are a different set and open
 *   nothing here;
 * - a signed-in review-app user whose role is allowed, looked up through the session layer's hook
 *   (the Temporal UI sends the session cookie when its codec setting "include credentials" is on).
 * A presented but unknown token is refused outright, never retried as a session, so a typo cannot
 * quietly act as someone else.
 */

export type StaffRole = StaffMember['role'];

/** A signed-in review-app user, as the session layer reports them (IDs only). */
export interface StaffSessionCaller {
  staffId: string;
  practiceId: string;
  role: StaffRole;
}

/** The session layer's answer for a request: the signed-in user, or undefined when there is none. */
export type StaffSessionLookup = (request: FastifyRequest) => Promise<StaffSessionCaller | undefined>;

/** Who made an authenticated privileged request. */
export type PrivilegedCaller =
  { kind: 'token'; name: string } | { kind: 'session'; staffId: string; practiceId: string; role: StaffRole };

export interface PrivilegedAuthOptions {
  /** What the route lets a caller do, for messages: e.g. "decrypt workflow payloads". */
  purpose: string;
  /** token → client name. */
  tokens: Map<string, string>;
  session?: StaffSessionLookup;
  /** Session roles allowed through; any other signed-in role gets 403. */
  sessionRoles: readonly StaffRole[];
}

/** A route's `preParsing` hook that authenticates the caller. */
export type PrivilegedAuthHook = (
  request: FastifyRequest,
  reply: FastifyReply,
  payload: RequestPayload,
) => Promise<RequestPayload>;

/**
 * Authentication as a `preParsing` hook: after the rate limiter (an onRequest hook, which a
 * route-level onRequest would run ahead of, leaving token guessing unlimited) and before the body is
 * read or validated, so an anonymous caller learns nothing and costs nothing. 401 without
 * credentials or with an unknown token, 403 for a signed-in user whose role is not allowed. Sets
 * `request.privilegedCaller` on success.
 */
export function createPrivilegedAuth(options: PrivilegedAuthOptions): PrivilegedAuthHook {
  const authenticate = createAuthenticator(options);
  return async (request, reply, payload) => {
    await authenticate(request, reply);
    return payload;
  };
}

function createAuthenticator(options: PrivilegedAuthOptions) {
  const digests = [...options.tokens.entries()].map(([token, name]) => ({ digest: sha256(token), name }));
  return async function requirePrivilegedCaller(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const header = request.headers.authorization;
    if (typeof header === 'string' && header !== '') {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      const presented = match?.[1] === undefined ? undefined : sha256(match[1]);
      let name: string | undefined;
      // Compare against every token so timing does not tell how many or which ones exist.
      for (const candidate of digests) {
        if (presented !== undefined && timingSafeEqual(candidate.digest, presented)) name = candidate.name;
      }
      if (name === undefined) {
        request.log.warn({ purpose: options.purpose }, 'privileged request with an unknown bearer token');
        await reply
          .code(401)
          .header('www-authenticate', 'Bearer error="invalid_token"')
          .send({
            error: 'Unauthorized',
            message: `bearer token not recognised: it does not allow you to ${options.purpose}`,
          });
        return;
      }
      request.privilegedCaller = { kind: 'token', name };
      return;
    }
    const session = options.session === undefined ? undefined : await options.session(request);
    if (session === undefined) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({
          error: 'Unauthorized',
          message: `sign in as ${options.sessionRoles.join(' or ')}, or send Authorization: Bearer <token>, to ${options.purpose}`,
        });
      return;
    }
    if (!options.sessionRoles.includes(session.role)) {
      request.log.warn(
        { staffId: session.staffId, role: session.role, purpose: options.purpose },
        'privileged request refused for role',
      );
      await reply.code(403).send({
        error: 'Forbidden',
        message: `role ${session.role} may not ${options.purpose}; only ${options.sessionRoles.join(' or ')} may`,
      });
      return;
    }
    request.privilegedCaller = { kind: 'session', ...session };
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

declare module 'fastify' {
  interface FastifyRequest {
    privilegedCaller?: PrivilegedCaller;
  }
}
