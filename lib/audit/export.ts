import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createAuditLog } from './append';
import { canonicalJson } from './canonical-json';
import { csvRecord } from './csv';
import { chainHead, insertAnchor } from './anchor';
import { AUDIT_RECORD_FIELDS, AUDIT_RECORD_SELECT, GENESIS_HASH, parseStoredRow } from './record';
import type { AuditActor, JsonValue, StoredAuditRecord } from './types';
import { AuditInputError } from './validate';

/** Rows per keyset page, and so per yielded chunk: large enough to amortise a query, small in memory. */
export const DEFAULT_EXPORT_BATCH_SIZE = 500;

export type AuditExportFormat = 'ndjson' | 'csv';

export interface AuditExportOptions {
  /** Inclusive lower bound on occurred_at. */
  from?: Date;
  /** Exclusive upper bound on occurred_at. */
  to?: Date;
  /** Internal patient id; needs practiceId too, since patient ids are only unique within a practice. */
  patientId?: string;
  practiceId?: string;
  format: AuditExportFormat;
  /** The operator or administrator asking; recorded in the export's own audit events. */
  actor: AuditActor;
  batchSize?: number;
}

/** CSV columns: every hashed field, then row_hash. */
export const AUDIT_CSV_HEADER = [...AUDIT_RECORD_FIELDS, 'row_hash'] as const;

/**
 * Export audit rows for an OCR audit, oldest first (by occurred_at, then seq), as text chunks to
 * stream to an HTTP response or a file.
 *
 * - `ndjson`: one line per row, the canonical JSON (RFC 8785) of the row's hashed fields plus
 *   row_hash. An auditor re-checks a row with any JCS library:
 *   `sha256_hex(row.prev_hash + "\n" + jcs(row without row_hash)) === row.row_hash`; where rows with
 *   consecutive seq are both present, the later one's prev_hash is the earlier one's row_hash.
 * - `csv`: a header row, then RFC 4180 records with CRLF; details is a canonical JSON string column;
 *   null is the empty field.
 *
 * Both end with a trailer naming the chain head when the export started (also recorded in
 * audit_anchor), which every row of the export precedes: NDJSON a last line
 * `{"audit_chain_head":{"anchored_at":…,"row_hash":…,"seq":…}}`, CSV a last record
 * `#audit_chain_head,seq=…,row_hash=…,anchored_at=…`. Kept outside the database (ideally on
 * write-once storage), it lets `npm run audit:verify -- --anchor SEQ:HASH` catch rows cut off the
 * chain's end even by someone who could also delete the stored anchors.
 *
 * The export is itself audited: an 'export' event (outcome 'started', with the filter) is appended
 * before the first chunk, and one with outcome 'completed' (row count), 'failed' or 'aborted' (the
 * consumer stopped early) at the end. The rows are those present when the export started, so its
 * own events and later appends are not in it.
 *
 * Options are checked at once (AuditInputError); the database is touched only when iterated.
 */
export function exportAudit(pool: Pool, options: AuditExportOptions): AsyncIterable<string> {
  const problems: string[] = [];
  for (const key of ['from', 'to'] as const) {
    const d = options[key];
    if (d !== undefined && Number.isNaN(d.getTime())) problems.push(`${key}: not a valid date`);
  }
  if (options.from !== undefined && options.to !== undefined && !(options.from < options.to))
    problems.push('to: must be after from');
  if (options.patientId !== undefined && options.practiceId === undefined)
    problems.push('practiceId: required with patientId (patient ids are only unique within a practice)');
  if (options.format !== 'ndjson' && options.format !== 'csv') problems.push('format: must be ndjson or csv');
  const batchSize = options.batchSize ?? DEFAULT_EXPORT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) problems.push('batchSize: must be a positive integer');
  if (problems.length > 0) throw new AuditInputError(problems);
  return generate(pool, options, batchSize);
}

async function* generate(pool: Pool, options: AuditExportOptions, batchSize: number): AsyncGenerator<string> {
  const audit = createAuditLog(pool);
  const exportId = randomUUID();
  // The head when the export starts bounds its rows, is anchored in the database, and closes the file.
  const head = await chainHead(pool);
  const upToSeq = String(head?.seq ?? 0);
  const anchor: ChainHeadTrailer =
    head === undefined
      ? { seq: '0', row_hash: GENESIS_HASH, anchored_at: new Date().toISOString() }
      : await insertAnchor(pool, head, 'export').then((a) => ({
          seq: String(a.seq),
          row_hash: a.rowHash,
          anchored_at: a.anchoredAt ?? new Date().toISOString(),
        }));

  const filter: Record<string, JsonValue> = { exportId, format: options.format, upToSeq, headHash: anchor.row_hash };
  if (options.from !== undefined) filter.from = options.from.toISOString();
  if (options.to !== undefined) filter.to = options.to.toISOString();
  const event = (outcome: string, details: Record<string, JsonValue>) =>
    audit.append({
      occurredAt: new Date().toISOString(),
      practiceId: options.practiceId ?? null,
      patientId: options.patientId,
      actor: options.actor,
      action: 'export',
      outcome,
      details,
      idempotencyKey: `export:${exportId}:${outcome}`,
    });
  await event('started', filter);

  let rows = 0;
  let outcome = 'aborted';
  try {
    if (options.format === 'csv') yield csvRecord(AUDIT_CSV_HEADER);
    for await (const records of pages(pool, options, upToSeq, batchSize)) {
      rows += records.length;
      yield records.map(options.format === 'csv' ? toCsv : toNdjson).join('');
    }
    yield chainHeadTrailer(options.format, anchor);
    outcome = 'completed';
  } catch (error) {
    outcome = 'failed';
    throw error;
  } finally {
    await event(outcome, { exportId, rows });
  }
}

/** Keyset pages over (occurred_at, seq), which the export indexes cover; one page in memory at a time. */
async function* pages(
  pool: Pool,
  options: AuditExportOptions,
  upToSeq: string,
  batchSize: number,
): AsyncGenerator<StoredAuditRecord[]> {
  let cursor: StoredAuditRecord | undefined;
  for (;;) {
    const params: unknown[] = [upToSeq];
    const where = ['seq <= $1'];
    const add = (condition: (placeholder: string) => string, value: unknown) => {
      params.push(value);
      where.push(condition(`$${params.length}`));
    };
    if (options.from !== undefined) add((p) => `occurred_at >= ${p}`, options.from.toISOString());
    if (options.to !== undefined) add((p) => `occurred_at < ${p}`, options.to.toISOString());
    if (options.practiceId !== undefined) add((p) => `practice_id = ${p}`, options.practiceId);
    if (options.patientId !== undefined) add((p) => `patient_id = ${p}`, options.patientId);
    if (cursor !== undefined) {
      params.push(cursor.occurred_at, cursor.seq);
      where.push(`(occurred_at, seq) > ($${params.length - 1}::timestamptz, $${params.length}::bigint)`);
    }
    params.push(batchSize);
    const result = await pool.query(
      `SELECT ${AUDIT_RECORD_SELECT} FROM audit_log WHERE ${where.join(' AND ')}
       ORDER BY audit_log.occurred_at, audit_log.seq LIMIT $${params.length}`,
      params,
    );
    const records = result.rows.map(parseStoredRow);
    if (records.length > 0) yield records;
    if (records.length < batchSize) return;
    cursor = records.at(-1);
  }
}

function toNdjson(record: StoredAuditRecord): string {
  const line: { [key: string]: JsonValue } = {};
  for (const field of AUDIT_RECORD_FIELDS) line[field] = record[field];
  line.row_hash = record.row_hash;
  return `${canonicalJson(line)}\n`;
}

function toCsv(record: StoredAuditRecord): string {
  return csvRecord(
    AUDIT_CSV_HEADER.map((field) => {
      const value = record[field];
      return field === 'details' ? canonicalJson(value) : (value as string | null);
    }),
  );
}

/** The chain head an export closes with (see exportAudit). */
export interface ChainHeadTrailer {
  seq: string;
  row_hash: string;
  anchored_at: string;
}

/** The first field of the CSV trailer record (no row's seq can look like it). */
export const CSV_TRAILER_MARK = '#audit_chain_head';

export function chainHeadTrailer(format: AuditExportFormat, head: ChainHeadTrailer): string {
  if (format === 'csv')
    return csvRecord([
      CSV_TRAILER_MARK,
      `seq=${head.seq}`,
      `row_hash=${head.row_hash}`,
      `anchored_at=${head.anchored_at}`,
    ]);
  return `${canonicalJson({ audit_chain_head: { ...head } })}\n`;
}

/** The trailer of an export file's text, if it has one (for tests and tools reading exports). */
export function parseChainHeadTrailer(text: string): ChainHeadTrailer | undefined {
  const lines = text.split(/\r?\n/).filter((l) => l !== '');
  const last = lines.at(-1) ?? '';
  const csv = new RegExp(`^${CSV_TRAILER_MARK},seq=(\\d+),row_hash=([0-9a-f]{64}),anchored_at=(\\S+)$`).exec(last);
  if (csv !== null) return { seq: csv[1] ?? '', row_hash: csv[2] ?? '', anchored_at: csv[3] ?? '' };
  try {
    const parsed = JSON.parse(last) as { audit_chain_head?: ChainHeadTrailer };
    return parsed.audit_chain_head;
  } catch {
    return undefined;
  }
}
