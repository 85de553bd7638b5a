import fastifyCookie from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import type { PracticePolicy, StaffMember } from '../../domain/practice';
import type { PracticeRegistry } from '../../lib/practices';
import { findStaff } from '../../lib/review/staff';
import type { StaffSessionLookup } from './privileged';
import type { StaffRole } from './roles';
import { createSessionStore, type NewSession, type SessionTimeouts } from './session-store';

/**
 * Review-app sessions: an opaque ID in an HttpOnly cookie, the session itself in PostgreSQL
 * (session-store.ts). Sessions end after SESSION_IDLE_MINUTES without a request (default 15, the
 * usual HIPAA automatic-logoff figure) and in any case SESSION_ABSOLUTE_LIFETIME_MS after sign-in;
 * logout deletes the row, so the cookie is worthless at once. The person's role is read from the
 * practice registry on every request, never from the session.
 */

/** A long clinic day (7:00 to 19:00): after that, sign in again whatever the activity. */
export const SESSION_ABSOLUTE_LIFETIME_MS = 12 * 60 * 60_000;
/** An SSO round trip takes seconds; 10 minutes covers a slow password manager or MFA prompt. */
export const LOGIN_ATTEMPT_MAX_AGE_MS = 10 * 60_000;

export interface WebSessionSettings {
  idleMinutes: number;
  /** Mark cookies Secure (and use the __Host- prefix): the public URL is https. */
  secureCookies: boolean;
}

/** The signed-in person of a request, resolved against the practice registry. */
export interface SignedInUser {
  /** SHA-256 of the session ID: binds CSRF tokens to this session without exposing the ID. */
  sessionKey: string;
  practice: PracticePolicy;
  staff: StaffMember;
  role: StaffRole;
  authMethod: 'oidc' | 'demo';
}

export type SessionState = { kind: 'signed-in'; user: SignedInUser } | { kind: 'expired' } | { kind: 'anonymous' };

export function sessionCookieName(secure: boolean): string {
  // __Host- cookies must be Secure, Path=/ and host-only: a sibling subdomain cannot plant or shadow them.
  return secure ? '__Host-labloop_session' : 'labloop_session';
}

export function loginCookieName(secure: boolean): string {
  return secure ? '__Host-labloop_login' : 'labloop_login';
}

export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined || header === '') return undefined;
  const value = fastifyCookie.parse(header)[name];
  return value === undefined || value === '' ? undefined : value;
}

export function createWebSessions(deps: {
  pool: Pool;
  practices: PracticeRegistry;
  now: () => Date;
  settings: WebSessionSettings;
}) {
  const store = createSessionStore(deps.pool);
  const timeouts: SessionTimeouts = {
    idleMs: deps.settings.idleMinutes * 60_000,
    absoluteMs: SESSION_ABSOLUTE_LIFETIME_MS,
  };
  const secure = deps.settings.secureCookies;
  const sessionCookie = sessionCookieName(secure);
  const loginCookie = loginCookieName(secure);
  // Lax, not Strict: the SSO callback is a cross-site navigation, and the page it redirects to must
  // see the new session. State-changing requests are POSTs with a CSRF token, which Lax does not send cross-site.
  const baseCookie = { httpOnly: true, sameSite: 'lax' as const, secure, path: '/' };

  const setCookie = (reply: FastifyReply, name: string, value: string, maxAgeSeconds?: number) => {
    reply.header(
      'set-cookie',
      fastifyCookie.serialize(name, value, {
        ...baseCookie,
        ...(maxAgeSeconds === undefined ? {} : { maxAge: maxAgeSeconds }),
      }),
    );
  };
  const clearCookie = (reply: FastifyReply, name: string) => {
    reply.header('set-cookie', fastifyCookie.serialize(name, '', { ...baseCookie, maxAge: 0, expires: new Date(0) }));
  };

  async function resolve(request: FastifyRequest): Promise<SessionState> {
    const id = readCookie(request, sessionCookie);
    if (id === undefined) return { kind: 'anonymous' };
    const found = await store.touch(id, deps.now(), timeouts);
    if (found.kind !== 'active') return { kind: found.kind === 'expired' ? 'expired' : 'anonymous' };
    const match = findStaff(deps.practices, found.session.practiceId, found.session.staffId);
    if (match === undefined) {
      // Removed from the practice since signing in: the session ends now.
      await store.destroy(id);
      return { kind: 'anonymous' };
    }
    return {
      kind: 'signed-in',
      user: {
        sessionKey: found.session.idSha256,
        practice: match.practice,
        staff: match.staff,
        role: match.staff.role,
        authMethod: found.session.authMethod,
      },
    };
  }

  return {
    timeouts,
    resolve,

    /** Start a session (a new ID every time, so a pre-planted cookie never becomes signed in). */
    async signIn(request: FastifyRequest, reply: FastifyReply, session: NewSession): Promise<void> {
      const previous = readCookie(request, sessionCookie);
      if (previous !== undefined) await store.destroy(previous);
      const now = deps.now();
      await store.purgeExpired(now, timeouts, LOGIN_ATTEMPT_MAX_AGE_MS);
      const id = await store.create(session, now, timeouts);
      // No Max-Age: the cookie dies with the browser session too (shared clinic PCs).
      setCookie(reply, sessionCookie, id);
    },

    async signOut(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const id = readCookie(request, sessionCookie);
      if (id !== undefined) await store.destroy(id);
      clearCookie(reply, sessionCookie);
    },

    /** Clear a cookie whose session is gone, so the browser stops sending it. */
    forget(reply: FastifyReply): void {
      clearCookie(reply, sessionCookie);
    },

    hasCookie(request: FastifyRequest): boolean {
      return readCookie(request, sessionCookie) !== undefined;
    },

    async beginLogin(
      reply: FastifyReply,
      attempt: { state: string; nonce: string; codeVerifier: string; returnTo: string },
    ): Promise<void> {
      const id = await store.createLoginAttempt(attempt, deps.now());
      setCookie(reply, loginCookie, id, LOGIN_ATTEMPT_MAX_AGE_MS / 1000);
    },

    /** The sign-in this browser started (used once), or undefined when missing, used or stale. */
    async takeLogin(request: FastifyRequest, reply: FastifyReply) {
      const id = readCookie(request, loginCookie);
      clearCookie(reply, loginCookie);
      if (id === undefined) return undefined;
      return store.takeLoginAttempt(id, deps.now(), LOGIN_ATTEMPT_MAX_AGE_MS);
    },

    /** For routes outside the review app (codec endpoint, audit export): who is signed in, IDs only. */
    staffSessionLookup: (async (request) => {
      const state = await resolve(request);
      if (state.kind !== 'signed-in') return undefined;
      return { staffId: state.user.staff.id, practiceId: state.user.practice.practiceId, role: state.user.role };
    }) satisfies StaffSessionLookup,
  };
}

export type WebSessions = ReturnType<typeof createWebSessions>;
