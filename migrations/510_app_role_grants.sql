-- Up Migration

-- The application's runtime login role is a member of labloop_app (migrations/100_audit_log.sql) and
-- owns nothing: migrations run as the owner (DATABASE_MIGRATION_URL), the API and worker as the
-- runtime role (DATABASE_URL). labloop_app may read and write labloop's working tables, and only
-- SELECT and INSERT the audit log, so UPDATE/DELETE/TRUNCATE there are refused by grants as well as
-- by the triggers. Tables added by later migrations get the same rights through default privileges
-- of the migrating role.
GRANT USAGE ON SCHEMA public TO labloop_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO labloop_app;
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log FROM labloop_app;
-- The migration bookkeeping is the migrator's alone.
REVOKE ALL ON pgmigrations FROM labloop_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO labloop_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO labloop_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO labloop_app;

-- Down Migration
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM labloop_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM labloop_app;
REVOKE USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public FROM labloop_app;
REVOKE SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public FROM labloop_app;
GRANT SELECT, INSERT ON audit_log TO labloop_app;
