import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import {
  ANCHOR_EVERY_N_APPENDS,
  anchorAuditHead,
  createAuditLog,
  computeRowHash,
  verifyAuditChain,
  type AuditEventInput,
  type VerifyResult,
} from '../../lib/audit';
import { AUDIT_RECORD_SELECT, parseStoredRow } from '../../lib/audit/record';

const ROWS = 12;

function event(i: number): AuditEventInput {
  return {
    occurredAt: new Date(Date.UTC(2026, 2, 2, 14, 0, i)).toISOString(),
    practiceId: 'practice-a',
    workflowId: `lab-result-practice-a-${String(i).padStart(16, '0')}`,
    patientId: `P${i % 3}`,
    actor: { type: 'system', id: 'worker' },
    action: i % 2 === 0 ? 'send' : 'delivery-status',
    channel: 'sms',
    outcome: i % 2 === 0 ? 'sent' : 'delivered',
    details: { step: i },
  };
}

/**
 * Run SQL the way an attacker with superuser rights would: with ordinary triggers switched off for
 * the session, so the append-only triggers and the link check do not fire.
 */
async function asAttacker(pool: pg.Pool, ...statements: string[]) {
  const client = await pool.connect();
  try {
    await client.query('SET session_replication_role = replica');
    for (const sql of statements) await client.query(sql);
  } finally {
    await client.query('RESET session_replication_role');
    client.release();
  }
}

async function row(pool: pg.Pool, seq: number) {
  const r = await pool.query(`SELECT ${AUDIT_RECORD_SELECT} FROM audit_log WHERE seq = $1`, [seq]);
  return parseStoredRow(r.rows[0]);
}

/** An INSERT of a whole forged row, its hash either computed properly or made up. */
async function forgedInsert(pool: pg.Pool, seq: number, prevHash: string, validHash: boolean) {
  const template = await row(pool, 1);
  const forged = {
    ...template,
    seq: String(seq),
    action: 'sign-off' as const,
    actor_type: 'provider' as const,
    actor_id: 'dr-forger',
    outcome: 'signed',
    channel: null,
    prev_hash: prevHash,
  };
  const hash = validHash ? computeRowHash(forged) : 'f'.repeat(64);
  return `INSERT INTO audit_log (seq, occurred_at, recorded_at, practice_id, workflow_id, result_ref, patient_id,
      actor_type, actor_id, action, channel, template, variant, outcome, details, idempotency_key, prev_hash, row_hash)
    VALUES (${seq}, '${forged.occurred_at}', '${forged.recorded_at}', 'practice-a', '${forged.workflow_id}', NULL,
      '${forged.patient_id}', 'provider', 'dr-forger', 'sign-off', NULL, NULL, NULL, 'signed', '{"step":1}', NULL,
      '${prevHash}', '${hash}')`;
}

/** Out of the way of real seqs: renumbering goes through it so the primary key never clashes. */
const PARK = 1_000_000;

/** Renumber rows >= from by delta. */
const shift = (from: number, delta: number) => [
  `UPDATE audit_log SET seq = seq + ${PARK} WHERE seq >= ${from}`,
  `UPDATE audit_log SET seq = seq - ${PARK} + ${delta} WHERE seq > ${PARK}`,
];

/** Swap two rows' seq values. */
const swap = (a: number, b: number) => [
  `UPDATE audit_log SET seq = ${PARK} WHERE seq = ${a}`,
  `UPDATE audit_log SET seq = ${a} WHERE seq = ${b}`,
  `UPDATE audit_log SET seq = ${b} WHERE seq = ${PARK}`,
];

function assertBad(result: VerifyResult, seq: number, problem: string, detail?: RegExp) {
  assert.equal(result.ok, false, `expected tampering to be found, got ${JSON.stringify(result)}`);
  if (result.ok) return;
  assert.equal(result.firstBadSeq, seq, result.detail);
  assert.equal(result.problem, problem, result.detail);
  if (detail !== undefined) assert.match(result.detail, detail);
}

void describe('audit chain verification catches tampering', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('audit_tamper');
  });
  after(async () => {
    await db?.close();
  });
  beforeEach(async () => {
    await asAttacker(db.pool, 'TRUNCATE audit_log', 'TRUNCATE audit_anchor');
    const audit = createAuditLog(db.pool);
    for (let i = 1; i <= ROWS; i++) await audit.append(event(i));
    assert.deepEqual((await verifyAuditChain(db.pool)).ok, true);
  });

  void it('names an edited row', async () => {
    await asAttacker(db.pool, `UPDATE audit_log SET outcome = 'undelivered' WHERE seq = 5`);
    const result = await verifyAuditChain(db.pool, { batchSize: 4 });
    assertBad(result, 5, 'edited', /row 5's content does not match/);
    assert.equal(result.rows, 4);
  });

  void it('names an edited details value and an edited timestamp', async () => {
    await asAttacker(db.pool, `UPDATE audit_log SET details = '{"step": 8}' WHERE seq = 7`);
    assertBad(await verifyAuditChain(db.pool), 7, 'edited');
    // 7.0 is the same JSON number as 7 (the hash still matches), but not what was stored.
    await asAttacker(db.pool, `UPDATE audit_log SET details = '{"step": 7.0}' WHERE seq = 7`);
    assertBad(await verifyAuditChain(db.pool), 7, 'edited', /respelled/);
    await asAttacker(
      db.pool,
      `UPDATE audit_log SET occurred_at = occurred_at - interval '1 millisecond' WHERE seq = 3`,
    );
    assertBad(await verifyAuditChain(db.pool), 3, 'edited');
  });

  void it('names a row that was edited and re-hashed, by its successor still holding the old hash', async () => {
    const target = await row(db.pool, 6);
    const edited = { ...target, outcome: 'failed' };
    await asAttacker(
      db.pool,
      `UPDATE audit_log SET outcome = 'failed', row_hash = '${computeRowHash(edited)}' WHERE seq = 6`,
    );
    assertBad(await verifyAuditChain(db.pool), 6, 'edited', /row 6 was changed and re-hashed/);
  });

  void it('names the gap left by a deleted middle row', async () => {
    await asAttacker(db.pool, 'DELETE FROM audit_log WHERE seq = 4');
    assertBad(await verifyAuditChain(db.pool, { batchSize: 3 }), 4, 'deleted', /seq 4 missing: row 5 follows row 3/);
  });

  void it('names several deleted rows by the first missing seq', async () => {
    await asAttacker(db.pool, 'DELETE FROM audit_log WHERE seq BETWEEN 8 AND 10');
    assertBad(await verifyAuditChain(db.pool), 8, 'deleted', /seqs 8\.\.10 missing/);
  });

  void it('names a deleted row even when the later rows were renumbered to close the gap', async () => {
    await asAttacker(db.pool, 'DELETE FROM audit_log WHERE seq = 4', ...shift(5, -1));
    assertBad(await verifyAuditChain(db.pool), 4, 'deleted', /renumbered down/);
  });

  void it('names a deleted first row', async () => {
    await asAttacker(db.pool, 'DELETE FROM audit_log WHERE seq = 1');
    assertBad(await verifyAuditChain(db.pool), 1, 'deleted');
  });

  void it('names two adjacent rows whose seq values were swapped as reordered', async () => {
    await asAttacker(db.pool, ...swap(5, 6));
    assertBad(await verifyAuditChain(db.pool), 5, 'reordered', /belongs at seq 6/);
  });

  void it('names far-apart swapped rows as reordered at the earlier position', async () => {
    await asAttacker(db.pool, ...swap(3, 9));
    assertBad(await verifyAuditChain(db.pool), 3, 'reordered', /belongs at seq 9/);
  });

  void it('catches a forged row slipped into the middle with a correctly computed hash', async () => {
    const prev = await row(db.pool, 4);
    await asAttacker(db.pool, ...shift(5, 1), await forgedInsert(db.pool, 5, prev.row_hash, true));
    const result = await verifyAuditChain(db.pool);
    assertBad(result, 5, 'inserted', /row 5 was inserted/);
    assert.equal(result.rows, 4);
  });

  void it('catches a forged row slipped into the middle with a made-up hash', async () => {
    const prev = await row(db.pool, 4);
    await asAttacker(db.pool, ...shift(5, 1), await forgedInsert(db.pool, 5, prev.row_hash, false));
    assertBad(await verifyAuditChain(db.pool), 5, 'inserted', /row 6 links past it/);
  });

  void it('catches a forged row added past the end with a gap in seq', async () => {
    const tail = await row(db.pool, ROWS);
    await asAttacker(db.pool, await forgedInsert(db.pool, ROWS + 5, tail.row_hash, true));
    assertBad(await verifyAuditChain(db.pool), ROWS + 5, 'inserted');
  });

  void it('names rows cut off the end from the stored anchors, with no anchor given', async () => {
    const anchor = await anchorAuditHead(db.pool, 'periodic');
    assert.equal(anchor?.seq, ROWS);
    assert.deepEqual(await verifyAuditChain(db.pool), {
      ok: true,
      rows: ROWS,
      headSeq: ROWS,
      headHash: anchor?.rowHash,
      anchorsChecked: 1,
      anchoredSeq: ROWS,
    });
    await asAttacker(db.pool, `DELETE FROM audit_log WHERE seq > ${ROWS - 2}`);
    // Without anchors a truncated tail looks like a shorter, intact chain...
    assert.equal((await verifyAuditChain(db.pool, { storedAnchors: false })).ok, true);
    // ...with the stored ones (the default), the missing rows are named.
    const result = await verifyAuditChain(db.pool);
    assertBad(result, ROWS - 1, 'deleted', /^rows deleted after seq 10: the chain ends there, but stored anchor/);
    assert.equal(result.rows, ROWS - 2);
  });

  void it('names rows cut off the end even after new rows took their seqs', async () => {
    await anchorAuditHead(db.pool, 'periodic');
    await asAttacker(db.pool, `DELETE FROM audit_log WHERE seq > ${ROWS - 2}`);
    // The application goes on appending: the chain is as long as before, and intact in itself.
    const audit = createAuditLog(db.pool);
    for (let i = 0; i < 3; i++) await audit.append(event(100 + i));
    assert.equal((await verifyAuditChain(db.pool, { storedAnchors: false })).ok, true);
    // Row 12 is not the row that was anchored; rows recorded after the anchor cannot be older rows.
    assertBad(
      await verifyAuditChain(db.pool),
      ROWS - 1,
      'deleted',
      /^rows deleted after seq 10: .* rows 11\.\.12 were replaced/,
    );
  });

  void it(`anchors every ${ANCHOR_EVERY_N_APPENDS}th append in the same transaction, so a cut tail shows without a periodic anchor`, async () => {
    const audit = createAuditLog(db.pool);
    for (let i = ROWS + 1; i <= ANCHOR_EVERY_N_APPENDS + 3; i++) await audit.append(event(i));
    const anchors = await db.pool.query<{ head_seq: string; reason: string; head_hash: string }>(
      'SELECT head_seq::text, reason, head_hash FROM audit_anchor ORDER BY id',
    );
    assert.deepEqual(
      anchors.rows.map((a) => [a.head_seq, a.reason]),
      [[String(ANCHOR_EVERY_N_APPENDS), 'append']],
    );
    assert.equal(anchors.rows[0]?.head_hash, (await row(db.pool, ANCHOR_EVERY_N_APPENDS)).row_hash);
    await asAttacker(db.pool, `DELETE FROM audit_log WHERE seq > ${ANCHOR_EVERY_N_APPENDS - 6}`);
    assertBad(
      await verifyAuditChain(db.pool, { batchSize: 7 }),
      ANCHOR_EVERY_N_APPENDS - 5,
      'deleted',
      new RegExp(`^rows deleted after seq ${ANCHOR_EVERY_N_APPENDS - 6}:`),
    );
  });

  void it('catches rows cut off the end, and a recomputed chain, against an anchor kept elsewhere', async () => {
    const intact = await verifyAuditChain(db.pool);
    assert.equal(intact.ok, true);
    if (!intact.ok) return;
    const anchor = { seq: intact.headSeq, rowHash: intact.headHash };
    await asAttacker(db.pool, `DELETE FROM audit_log WHERE seq > ${ROWS - 2}`);
    // No stored anchor covers the tail here: without the one kept elsewhere it looks intact...
    assert.equal((await verifyAuditChain(db.pool)).ok, true);
    // ...with it, the missing rows are named.
    assertBad(
      await verifyAuditChain(db.pool, { anchor }),
      ROWS - 1,
      'deleted',
      /rows deleted after seq 10: .*the anchor given records seq 12/,
    );

    // A whole chain recomputed after an edit is internally consistent; the anchor tells.
    await asAttacker(db.pool, 'TRUNCATE audit_log');
    const audit = createAuditLog(db.pool);
    for (let i = 1; i <= ROWS; i++) await audit.append({ ...event(i), outcome: i === 3 ? 'forged' : event(i).outcome });
    assert.equal((await verifyAuditChain(db.pool)).ok, true);
    assertBad(
      await verifyAuditChain(db.pool, { anchor }),
      1,
      'deleted',
      /rows deleted after seq 0: .*row 12 now has hash/,
    );
  });

  void it('the verifier still accepts the untouched chain after all that setup (control)', async () => {
    const result = await verifyAuditChain(db.pool, { batchSize: 5 });
    assert.equal(result.ok, true);
    assert.equal(result.rows, ROWS);
  });
});
