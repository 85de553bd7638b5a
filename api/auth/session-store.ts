import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';

/**
 * PostgreSQL storage for review-app sessions and in-flight SSO sign-ins (migrations/400_web_session.sql).
 * The browser holds a random 256-bit ID; only its SHA-256 is stored, so reading the table does not
 * yield usable cookies. Expiry is checked in the same statement that records activity, so an expired
 * session can never be extended by a request that races its expiry.
 */

/** 32 random bytes: not guessable, not enumerable. */
const SESSION_ID_BYTES = 32;

export interface SessionTimeouts {
  /** A session unused for this long is over (automatic logoff). */
  idleMs: number;
  /** A session is over this long after sign-in, however active. */
  absoluteMs: number;
}

export interface NewSession {
  practiceId: string;
  staffId: string;
  authMethod: 'oidc' | 'demo';
  oidcSubject?: string;
}

export interface StoredSession extends NewSession {
  /** SHA-256 of the cookie value: safe to use as a key elsewhere (CSRF binding, logs never). */
  idSha256: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

export type SessionLookup = { kind: 'active'; session: StoredSession } | { kind: 'expired' } | { kind: 'none' };

export interface LoginAttempt {
  state: string;
  nonce: string;
  codeVerifier: string;
  returnTo: string;
}

export function newOpaqueId(): string {
  return randomBytes(SESSION_ID_BYTES).toString('base64url');
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

interface SessionRow {
  id_sha256: string;
  practice_id: string;
  staff_id: string;
  auth_method: 'oidc' | 'demo';
  oidc_subject: string | null;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
}

function toSession(row: SessionRow): StoredSession {
  return {
    idSha256: row.id_sha256,
    practiceId: row.practice_id,
    staffId: row.staff_id,
    authMethod: row.auth_method,
    ...(row.oidc_subject === null ? {} : { oidcSubject: row.oidc_subject }),
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    expiresAt: row.expires_at,
  };
}

export function createSessionStore(pool: Pool) {
  return {
    /** A new session with a fresh ID (never reuses one, so a planted cookie cannot become signed in). */
    async create(session: NewSession, now: Date, timeouts: SessionTimeouts): Promise<string> {
      const id = newOpaqueId();
      await pool.query(
        `INSERT INTO web_session (id_sha256, practice_id, staff_id, auth_method, oidc_subject, created_at, last_seen_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7)`,
        [
          sha256Hex(id),
          session.practiceId,
          session.staffId,
          session.authMethod,
          session.oidcSubject ?? null,
          now,
          new Date(now.getTime() + timeouts.absoluteMs),
        ],
      );
      return id;
    },

    /**
     * The session for this cookie value, with its activity recorded, or why there is none. An
     * expired session is deleted on sight, so "expired" is reported once and then it is simply gone.
     */
    async touch(id: string, now: Date, timeouts: SessionTimeouts): Promise<SessionLookup> {
      const key = sha256Hex(id);
      const { rows } = await pool.query<SessionRow>(
        `UPDATE web_session SET last_seen_at = GREATEST(last_seen_at, $2)
         WHERE id_sha256 = $1 AND last_seen_at > $2::timestamptz - make_interval(secs => $3) AND expires_at > $2
         RETURNING *`,
        [key, now, timeouts.idleMs / 1000],
      );
      const row = rows[0];
      if (row !== undefined) return { kind: 'active', session: toSession(row) };
      const removed = await pool.query(`DELETE FROM web_session WHERE id_sha256 = $1`, [key]);
      return (removed.rowCount ?? 0) > 0 ? { kind: 'expired' } : { kind: 'none' };
    },

    async destroy(id: string): Promise<void> {
      await pool.query(`DELETE FROM web_session WHERE id_sha256 = $1`, [sha256Hex(id)]);
    },

    /** Housekeeping: remove sessions and sign-in attempts nobody can use any more. */
    async purgeExpired(now: Date, timeouts: SessionTimeouts, loginAttemptMaxAgeMs: number): Promise<void> {
      await pool.query(
        `DELETE FROM web_session WHERE expires_at <= $1 OR last_seen_at <= $1::timestamptz - make_interval(secs => $2)`,
        [now, timeouts.idleMs / 1000],
      );
      await pool.query(
        `DELETE FROM web_login_attempt WHERE created_at <= $1::timestamptz - make_interval(secs => $2)`,
        [now, loginAttemptMaxAgeMs / 1000],
      );
    },

    async createLoginAttempt(attempt: LoginAttempt, now: Date): Promise<string> {
      const id = newOpaqueId();
      await pool.query(
        `INSERT INTO web_login_attempt (id_sha256, state, nonce, code_verifier, return_to, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [sha256Hex(id), attempt.state, attempt.nonce, attempt.codeVerifier, attempt.returnTo, now],
      );
      return id;
    },

    /** The attempt for this cookie value, removed as it is read (single use), if it is still fresh. */
    async takeLoginAttempt(id: string, now: Date, maxAgeMs: number): Promise<LoginAttempt | undefined> {
      const { rows } = await pool.query<{
        state: string;
        nonce: string;
        code_verifier: string;
        return_to: string;
        created_at: Date;
      }>(
        `DELETE FROM web_login_attempt WHERE id_sha256 = $1 RETURNING state, nonce, code_verifier, return_to, created_at`,
        [sha256Hex(id)],
      );
      const row = rows[0];
      if (row === undefined || now.getTime() - row.created_at.getTime() > maxAgeMs) return undefined;
      return { state: row.state, nonce: row.nonce, codeVerifier: row.code_verifier, returnTo: row.return_to };
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
