#!/bin/sh
# Creates labloop's own database and login role next to Temporal's (first start of the volume only).
# The role owns nothing in the audit table's schema beyond what migrations grant (see migrations/100_audit_log.sql).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE labloop LOGIN PASSWORD '${LABLOOP_DB_PASSWORD}';
CREATE DATABASE labloop OWNER labloop;
SQL
