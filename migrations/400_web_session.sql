-- Up Migration

-- Review-app sign-in sessions, server-side so they can be revoked (logout, a removed staff member)
-- and expire when idle (HIPAA automatic logoff). The browser holds only an opaque random ID; the
-- table keeps its SHA-256, so a copy of this table cannot be replayed as cookies. Who the person is
-- (practice and staff ID) is fixed at sign-in; their role is read from the practice registry on every
-- request, so a changed role applies at once.
CREATE TABLE web_session (
  id_sha256 TEXT PRIMARY KEY CHECK (id_sha256 ~ '^[0-9a-f]{64}$'),
  practice_id TEXT NOT NULL,
  staff_id TEXT NOT NULL,
  auth_method TEXT NOT NULL CHECK (auth_method IN ('oidc', 'demo')),
  -- The identity provider's subject, for tracing a session back to the SSO account.
  oidc_subject TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  last_seen_at TIMESTAMPTZ NOT NULL,
  -- Absolute end, however active the session is.
  expires_at TIMESTAMPTZ NOT NULL,
  CHECK (expires_at > created_at)
);
CREATE INDEX web_session_expiry ON web_session (expires_at);
CREATE INDEX web_session_staff ON web_session (practice_id, staff_id);

-- One SSO sign-in in flight: the PKCE verifier, state and nonce stay here (never in the browser),
-- keyed by the SHA-256 of a random ID held in a short-lived cookie, which binds the callback to the
-- browser that started the sign-in. Each row is used once (deleted when the callback reads it).
CREATE TABLE web_login_attempt (
  id_sha256 TEXT PRIMARY KEY CHECK (id_sha256 ~ '^[0-9a-f]{64}$'),
  state TEXT NOT NULL,
  nonce TEXT NOT NULL,
  code_verifier TEXT NOT NULL,
  -- A review-app path to land on after sign-in (validated before it is stored).
  return_to TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX web_login_attempt_created ON web_login_attempt (created_at);

-- Down Migration
DROP TABLE web_login_attempt;
DROP TABLE web_session;
