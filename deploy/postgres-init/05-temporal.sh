#!/bin/sh
# Temporal's login (first start of the volume only; runs before 10-labloop.sh). Not a superuser:
# CREATEDB so temporal-sql-tool (deploy/temporal/setup-schema.sh) can create its two databases,
# which it then owns, and nothing else. It cannot connect to labloop's database (10-labloop.sh
# revokes CONNECT from PUBLIC there), so whoever holds Temporal's password can neither read nor
# rewrite labloop's audit log, and the cluster's superuser is used by no service at all.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE temporal LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '${TEMPORAL_DB_PASSWORD}';
SQL
