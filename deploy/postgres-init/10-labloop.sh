#!/bin/sh
# Creates labloop's database next to Temporal's (first start of the volume only), with two roles:
#  - labloop_owner owns the database and its schema; only migrations log in as it
#    (DATABASE_MIGRATION_URL).
#  - labloop is the API's and the worker's runtime login (DATABASE_URL). It owns nothing and gets its
#    rights through labloop_app (migrations/510_app_role_grants.sql), so it is refused UPDATE, DELETE
#    and TRUNCATE on the audit log and cannot switch the audit log's triggers off.
# Neither is a superuser, and only they may connect to the labloop database (Temporal's role may not).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE labloop_app NOLOGIN;
CREATE ROLE labloop_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '${LABLOOP_OWNER_DB_PASSWORD}';
CREATE ROLE labloop LOGIN PASSWORD '${LABLOOP_DB_PASSWORD}' IN ROLE labloop_app;
CREATE DATABASE labloop OWNER labloop_owner;
REVOKE CONNECT, TEMPORARY ON DATABASE labloop FROM PUBLIC;
GRANT CONNECT ON DATABASE labloop TO labloop_owner, labloop_app;
SQL
# PostgreSQL 15+ no longer lets every role create objects in public; the owner needs it for migrations.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname labloop <<SQL
ALTER SCHEMA public OWNER TO labloop_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
