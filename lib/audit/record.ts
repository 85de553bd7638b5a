import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical-json';
import { AUDIT_ACTIONS, AUDIT_ACTOR_TYPES, type AuditRecord, type JsonValue, type StoredAuditRecord } from './types';

/** prev_hash of the first row. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The hashed fields, in the order exports list them (the hash itself does not depend on order:
 * the canonical form sorts keys). Everything in a row except row_hash.
 */
export const AUDIT_RECORD_FIELDS = [
  'seq',
  'occurred_at',
  'recorded_at',
  'practice_id',
  'workflow_id',
  'result_ref',
  'patient_id',
  'actor_type',
  'actor_id',
  'action',
  'channel',
  'template',
  'variant',
  'outcome',
  'details',
  'idempotency_key',
  'prev_hash',
] as const satisfies readonly (keyof AuditRecord)[];

/** ISO-8601 UTC with milliseconds, rendered by PostgreSQL so no client-side type parser is involved. */
export const SQL_ISO_MS = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/**
 * The select list that reads a row in exactly the form that is hashed. Everything is read as text
 * (seq, timestamps, details) so the result does not depend on pg's type parsers, which another
 * module could replace process-wide. Beware: its aliases shadow the columns in ORDER BY, so
 * order by `audit_log.seq` (a number), never by the bare `seq` (which would sort as text).
 */
export const AUDIT_RECORD_SELECT = `seq::text AS seq,
  to_char(occurred_at AT TIME ZONE 'UTC', ${SQL_ISO_MS}) AS occurred_at,
  to_char(recorded_at AT TIME ZONE 'UTC', ${SQL_ISO_MS}) AS recorded_at,
  practice_id, workflow_id, result_ref, patient_id, actor_type, actor_id, action,
  channel, template, variant, outcome, details::text AS details, idempotency_key, prev_hash, row_hash`;

const nullableText = z.string().nullable();
const StoredRowSchema = z.object({
  seq: z.string().regex(/^-?\d+$/),
  occurred_at: z.string(),
  recorded_at: z.string(),
  practice_id: nullableText,
  workflow_id: nullableText,
  result_ref: nullableText,
  patient_id: nullableText,
  actor_type: z.enum(AUDIT_ACTOR_TYPES),
  actor_id: z.string(),
  action: z.enum(AUDIT_ACTIONS),
  channel: nullableText,
  template: nullableText,
  variant: nullableText,
  outcome: z.string(),
  details: z.string(),
  idempotency_key: nullableText,
  prev_hash: z.string(),
  row_hash: z.string(),
});

/** Parse one row read with AUDIT_RECORD_SELECT. */
export function parseStoredRow(row: unknown): StoredAuditRecord {
  const parsed = StoredRowSchema.parse(row);
  // jsonb text is always valid JSON, and the column's CHECK keeps it an object.
  const details = JSON.parse(parsed.details) as { [key: string]: JsonValue };
  return { ...parsed, details };
}

/** The canonical JSON of a record: exactly the hashed fields, nothing else that may ride along. */
export function canonicalRecord(record: AuditRecord): string {
  const hashed: { [key: string]: JsonValue } = {};
  for (const field of AUDIT_RECORD_FIELDS) hashed[field] = record[field];
  return canonicalJson(hashed);
}

/** row_hash = sha256_hex(prev_hash + "\n" + canonical_json(record without row_hash)). */
export function computeRowHash(record: AuditRecord): string {
  return createHash('sha256')
    .update(`${record.prev_hash}\n${canonicalRecord(record)}`, 'utf8')
    .digest('hex');
}

/** seq is a BIGINT; at a million events a day it stays below 2^53 for some 24 billion years. */
export function toSafeNumber(seq: string): number {
  const n = Number(seq);
  if (!Number.isSafeInteger(n)) throw new RangeError(`audit seq ${seq} exceeds Number.MAX_SAFE_INTEGER`);
  return n;
}
