import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../support/database';
import {
  AUDIT_CSV_HEADER,
  AuditInputError,
  CSV_TRAILER_MARK,
  createAuditLog,
  exportAudit,
  parseChainHeadTrailer,
  verifyAuditChain,
  type AuditEventInput,
  type AuditExportOptions,
} from '../../lib/audit';
import { AUDIT_RECORD_SELECT, parseStoredRow } from '../../lib/audit/record';

const operator = { type: 'staff', id: 'admin-7' } as const;

function event(day: number, overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    occurredAt: `2026-01-${String(day).padStart(2, '0')}T12:00:00.000Z`,
    practiceId: 'practice-a',
    workflowId: `lab-result-practice-a-${String(day).padStart(16, '0')}`,
    patientId: 'P1',
    actor: { type: 'system', id: 'worker' },
    action: 'send',
    channel: 'sms',
    outcome: 'sent',
    details: { day },
    ...overrides,
  };
}

async function collect(options: Omit<AuditExportOptions, 'actor'>, pool: TestDatabase['pool']): Promise<string> {
  let out = '';
  for await (const chunk of exportAudit(pool, { actor: operator, ...options })) out += chunk;
  return out;
}

/** The rows of an NDJSON export (its last line, the chain-head trailer, is checked and left out). */
function ndjson(text: string): Record<string, unknown>[] {
  assert.ok(text.endsWith('\n'), 'NDJSON ends with a newline');
  const lines = text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(Object.keys(lines.at(-1) ?? {}), ['audit_chain_head'], 'the last line is the chain head');
  return lines.slice(0, -1);
}

/** CSV records without the trailer record (checked to be there). */
function csvRows(text: string): string[][] {
  const records = parseCsv(text);
  assert.equal(records.at(-1)?.[0], CSV_TRAILER_MARK, 'the last record is the chain head');
  return records.slice(0, -1);
}

/** A minimal RFC 4180 reader, independent of the writer under test. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += c;
  }
  assert.equal(record.length + field.length, 0, 'CSV ends with CRLF');
  return records;
}

/** RFC 8785 in a few lines, written independently of lib/audit, as an auditor would. */
function jcs(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(jcs).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${jcs(o[k])}`)
    .join(',')}}`;
}

void describe('audit export', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('audit_export');
    const audit = createAuditLog(db.pool);
    // Appended out of date order, to show the export orders by occurred_at.
    for (const day of [5, 1, 20, 31, 15]) await audit.append(event(day));
    await audit.append(event(10, { patientId: 'P2' }));
    await audit.append(event(11, { practiceId: 'practice-b', patientId: 'P1' }));
    await audit.append(
      event(12, {
        patientId: 'P2',
        action: 'annotation',
        actor: { type: 'provider', id: 'dr-1' },
        channel: undefined,
        outcome: 'noted, "see chart"\r\nfollow-up',
        details: { note: 'line one\nline "two", three', list: [], n: 1e21 },
      }),
    );
    await audit.append(event(2, { occurredAt: '2026-02-01T00:00:00.000Z' }));
  });
  after(async () => {
    await db?.close();
  });

  void it('filters by date range [from, to) in occurred_at order', async () => {
    const rows = ndjson(
      await collect({ format: 'ndjson', from: new Date('2026-01-05'), to: new Date('2026-02-01') }, db.pool),
    );
    assert.deepEqual(
      rows.map((r) => r.occurred_at),
      ['05', '10', '11', '12', '15', '20', '31'].map((d) => `2026-01-${d}T12:00:00.000Z`),
    );
  });

  void it('filters by practice and by patient within a practice, across page boundaries', async () => {
    const p1 = ndjson(
      await collect({ format: 'ndjson', practiceId: 'practice-a', patientId: 'P1', batchSize: 2 }, db.pool),
    );
    assert.deepEqual(
      p1.map((r) => (r.details as { day?: number }).day),
      [1, 5, 15, 20, 31, 2],
    );
    assert.ok(p1.every((r) => r.practice_id === 'practice-a' && r.patient_id === 'P1'));
    const b = ndjson(await collect({ format: 'ndjson', practiceId: 'practice-b' }, db.pool));
    assert.deepEqual(
      b.map((r) => r.seq),
      ['7'],
    );
  });

  void it('writes NDJSON lines an auditor can re-hash with any RFC 8785 library', async () => {
    const rows = ndjson(await collect({ format: 'ndjson' }, db.pool));
    assert.ok(rows.length >= 9);
    for (const row of rows) {
      const { row_hash: rowHash, ...content } = row;
      const recomputed = createHash('sha256')
        .update(`${String(content.prev_hash)}\n${jcs(content)}`)
        .digest('hex');
      assert.equal(recomputed, rowHash, `seq ${String(row.seq)}`);
    }
    // Where consecutive rows are both present, they link.
    const bySeq = new Map(rows.map((r) => [Number(r.seq), r]));
    for (const [seq, r] of bySeq) if (bySeq.has(seq - 1)) assert.equal(r.prev_hash, bySeq.get(seq - 1)?.row_hash);
  });

  void it('writes RFC 4180 CSV that quotes commas, quotes and newlines and matches the stored rows', async () => {
    const text = await collect({ format: 'csv', practiceId: 'practice-a', patientId: 'P2' }, db.pool);
    const [header = [], ...records] = csvRows(text);
    assert.deepEqual(header.slice(), [...AUDIT_CSV_HEADER]);
    assert.equal(records.length, 2);
    const annotation = records.find((r) => r[header.indexOf('action')] === 'annotation');
    assert.ok(annotation);
    const col = (name: string) => annotation[header.indexOf(name)];
    assert.equal(col('outcome'), 'noted, "see chart"\r\nfollow-up');
    assert.deepEqual(JSON.parse(col('details') ?? ''), { note: 'line one\nline "two", three', list: [], n: 1e21 });
    assert.equal(col('channel'), '', 'null is the empty field');
    assert.ok(text.includes('"noted, ""see chart""\r\nfollow-up"'));

    const stored = await db.pool.query(`SELECT ${AUDIT_RECORD_SELECT} FROM audit_log WHERE seq = $1`, [col('seq')]);
    assert.equal(col('row_hash'), parseStoredRow(stored.rows[0]).row_hash);
  });

  void it('audits each export (who, what filter, how many rows) and keeps the chain intact', async () => {
    const before = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_log');
    const text = await collect({ format: 'csv', practiceId: 'practice-a', patientId: 'P2' }, db.pool);
    const [header, ...records] = csvRows(text);
    // The two P2 events, and the earlier export of P2's trail, which is part of that trail.
    assert.deepEqual(
      records.map((r) => `${r[header.indexOf('action')]}:${r[header.indexOf('outcome')]}`),
      ['send:sent', 'annotation:noted, "see chart"\r\nfollow-up', 'export:started', 'export:completed'],
    );
    const events = await db.pool.query(
      `SELECT ${AUDIT_RECORD_SELECT} FROM audit_log WHERE action = 'export' ORDER BY audit_log.seq DESC LIMIT 2`,
    );
    const [completed, started] = events.rows.map(parseStoredRow);
    assert.equal(started?.outcome, 'started');
    assert.equal(started?.actor_id, 'admin-7');
    assert.equal(started?.patient_id, 'P2');
    assert.equal(started?.details.format, 'csv');
    assert.equal(started?.details.upToSeq, before.rows[0]?.n);
    assert.equal(completed?.outcome, 'completed');
    assert.equal(completed?.details.rows, records.length);
    assert.equal(completed?.details.exportId, started?.details.exportId);
    assert.equal((await verifyAuditChain(db.pool)).ok, true);
  });

  void it('ends every export with the chain head it covers, anchored in the database as well', async () => {
    const head = await db.pool.query<{ seq: string; row_hash: string }>(
      `SELECT seq::text AS seq, row_hash FROM audit_log ORDER BY audit_log.seq DESC LIMIT 1`,
    );
    for (const format of ['ndjson', 'csv'] as const) {
      // A filter selects rows; the head is the whole chain's, so the file can anchor a verify.
      const text = await collect({ format, practiceId: 'practice-b' }, db.pool);
      const trailer = parseChainHeadTrailer(text);
      assert.ok(trailer !== undefined, `${format} has a trailer`);
      const anchors = await db.pool.query<{ head_seq: string; head_hash: string; reason: string; at: string }>(
        `SELECT head_seq::text AS head_seq, head_hash, reason,
                to_char(anchored_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
           FROM audit_anchor ORDER BY id DESC LIMIT 1`,
      );
      assert.deepEqual(anchors.rows[0], {
        head_seq: trailer.seq,
        head_hash: trailer.row_hash,
        reason: 'export',
        at: trailer.anchored_at,
      });
      const started = await db.pool.query<{ details: { upToSeq: string; headHash: string } }>(
        `SELECT details FROM audit_log WHERE action = 'export' AND outcome = 'started' ORDER BY seq DESC LIMIT 1`,
      );
      assert.deepEqual(started.rows[0]?.details.upToSeq, trailer.seq);
      assert.deepEqual(started.rows[0]?.details.headHash, trailer.row_hash);
      if (format === 'ndjson') {
        // The head before this export started: the first export's case is the seeded chain's end.
        assert.ok(Number(trailer.seq) >= Number(head.rows[0]?.seq));
      }
    }
    assert.equal((await verifyAuditChain(db.pool)).ok, true);
  });

  void it('ends an export of an empty chain with seq 0 and the genesis hash', async () => {
    const empty = await createTestDatabase('audit_export_empty');
    try {
      let text = '';
      for await (const chunk of exportAudit(empty.pool, { format: 'ndjson', actor: operator })) text += chunk;
      assert.deepEqual(
        { ...parseChainHeadTrailer(text), anchored_at: 'x' },
        { seq: '0', row_hash: '0'.repeat(64), anchored_at: 'x' },
      );
      assert.equal((await empty.pool.query('SELECT 1 FROM audit_anchor')).rowCount, 0);
    } finally {
      await empty.close();
    }
  });

  void it("records an export the consumer stopped early as 'aborted'", async () => {
    for await (const chunk of exportAudit(db.pool, { format: 'ndjson', actor: operator, batchSize: 1 })) {
      assert.ok(chunk.length > 0);
      break;
    }
    const last = await db.pool.query(
      `SELECT ${AUDIT_RECORD_SELECT} FROM audit_log ORDER BY audit_log.seq DESC LIMIT 1`,
    );
    const row = parseStoredRow(last.rows[0]);
    assert.deepEqual([row.action, row.outcome, row.details.rows, row.practice_id], ['export', 'aborted', 1, null]);
  });

  void it('refuses a bad filter before touching the database', () => {
    const bad = (options: Partial<AuditExportOptions>, message: RegExp) =>
      assert.throws(
        () => exportAudit(db.pool, { format: 'ndjson', actor: operator, ...options }),
        (e: unknown) => e instanceof AuditInputError && message.test(e.message),
      );
    bad({ patientId: 'P1' }, /practiceId: required with patientId/);
    bad({ from: new Date('2026-02-01'), to: new Date('2026-01-01') }, /to: must be after from/);
    bad({ from: new Date('nonsense') }, /from: not a valid date/);
    bad({ format: 'xml' as 'csv' }, /format: must be ndjson or csv/);
  });
});
