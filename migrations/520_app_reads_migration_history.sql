-- Up Migration

-- In production the API and the worker do not migrate: they check at start that no migration is
-- pending (lib/db/startup.ts) and refuse to run against an older schema. For that the runtime role
-- (a member of labloop_app) reads the migration history; writing it stays the owner's alone.
GRANT SELECT ON pgmigrations TO labloop_app;

-- Down Migration
REVOKE SELECT ON pgmigrations FROM labloop_app;
