import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import fc from 'fast-check';
import { createTestDatabase, type TestDatabase } from '../support/database';
import {
  AUDIT_ACTIONS,
  AuditIdempotencyConflictError,
  AuditInputError,
  GENESIS_HASH,
  canonicalJson,
  computeRowHash,
  createAuditLog,
  verifyAuditChain,
  type AuditEventInput,
  type JsonValue,
} from '../../lib/audit';
import { AUDIT_RECORD_SELECT, parseStoredRow } from '../../lib/audit/record';

function event(overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    occurredAt: '2026-03-02T14:05:06.789Z',
    practiceId: 'practice-a',
    workflowId: 'lab-result-practice-a-0123456789abcdef',
    resultRef: '0123456789abcdef',
    patientId: 'P100',
    actor: { type: 'system', id: 'worker' },
    action: 'routing-decision',
    channel: 'sms',
    template: 'normal-generic',
    variant: 'en',
    outcome: 'routed',
    details: { acuity: 'normal', attempt: 1 },
    ...overrides,
  };
}

async function storedRows(pool: pg.Pool) {
  const r = await pool.query(`SELECT ${AUDIT_RECORD_SELECT} FROM audit_log ORDER BY audit_log.seq`);
  return r.rows.map(parseStoredRow);
}

/** Remove every row, bypassing the append-only triggers the way only a superuser can. */
async function wipe(pool: pg.Pool) {
  const client = await pool.connect();
  try {
    await client.query(
      'SET session_replication_role = replica; TRUNCATE audit_log, audit_anchor; RESET session_replication_role',
    );
  } finally {
    client.release();
  }
}

void describe('audit log append', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('audit_append');
  });
  after(async () => {
    await db?.close();
  });
  beforeEach(async () => {
    await wipe(db.pool);
  });

  void it('chains appends from the genesis hash and verifies them', async () => {
    const audit = createAuditLog(db.pool);
    const first = await audit.append(event());
    const second = await audit.append(
      event({ action: 'send', outcome: 'sent', occurredAt: '2026-03-02T09:05:07-05:00' }),
    );
    const third = await audit.append(
      event({ action: 'sign-off', actor: { type: 'provider', id: 'dr-1' }, channel: undefined }),
    );
    assert.deepEqual([first.seq, second.seq, third.seq], [1, 2, 3]);
    assert.equal(first.duplicate, false);

    const rows = await storedRows(db.pool);
    assert.equal(rows[0]?.prev_hash, GENESIS_HASH);
    assert.equal(rows[1]?.prev_hash, first.rowHash);
    assert.equal(rows[2]?.prev_hash, second.rowHash);
    // What is read back hashes to what was stored: the hash covers exactly the stored form.
    for (const row of rows) assert.equal(computeRowHash(row), row.row_hash);
    // A -05:00 offset is stored and hashed as UTC with milliseconds.
    assert.equal(rows[1]?.occurred_at, '2026-03-02T14:05:07.000Z');
    assert.equal(rows[2]?.channel, null);
    assert.match(rows[0]?.recorded_at ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);

    assert.deepEqual(await verifyAuditChain(db.pool), {
      ok: true,
      rows: 3,
      headSeq: 3,
      headHash: third.rowHash,
      anchorsChecked: 0,
    });
  });

  void it('verifies an empty log as intact at the genesis hash', async () => {
    assert.deepEqual(await verifyAuditChain(db.pool), {
      ok: true,
      rows: 0,
      headSeq: 0,
      headHash: GENESIS_HASH,
      anchorsChecked: 0,
    });
  });

  void it('returns the existing row for a repeated idempotency key instead of appending again', async () => {
    const audit = createAuditLog(db.pool);
    const key = 'lab-result-practice-a-0123456789abcdef:send:3';
    const first = await audit.append(event({ action: 'send', idempotencyKey: key }));
    // A retried activity computes a new timestamp and may add details; it is still the same event.
    const retry = await audit.append(
      event({ action: 'send', idempotencyKey: key, occurredAt: '2026-03-02T14:09:00Z', details: { attempt: 2 } }),
    );
    assert.deepEqual(retry, { seq: first.seq, rowHash: first.rowHash, duplicate: true });
    assert.equal((await storedRows(db.pool)).length, 1);

    await assert.rejects(
      audit.append(event({ action: 'sign-off', idempotencyKey: key })),
      (e: unknown) => e instanceof AuditIdempotencyConflictError && /seq 1/.test(e.message),
    );
  });

  void it('keeps one unbroken chain when 8 workers append 50 events each at once', async () => {
    const workers = 8;
    const perWorker = 50;
    // Separate pools stand in for separate worker processes.
    const pools = Array.from({ length: workers }, () => new pg.Pool({ connectionString: db.url, max: 2 }));
    try {
      const results = await Promise.all(
        pools.map(async (pool, w) => {
          const audit = createAuditLog(pool);
          const out = [];
          for (let i = 0; i < perWorker; i++)
            out.push(await audit.append(event({ outcome: `w${w}-e${i}`, idempotencyKey: `w${w}:e${i}` })));
          return out;
        }),
      );
      const seqs = results.flat().map((r) => r.seq);
      assert.deepEqual(
        [...seqs].sort((a, b) => a - b),
        Array.from({ length: workers * perWorker }, (_, i) => i + 1),
      );
      const verdict = await verifyAuditChain(db.pool, { batchSize: 37 });
      assert.equal(verdict.ok, true, JSON.stringify(verdict));
      assert.equal(verdict.rows, workers * perWorker);
      const outcomes = (await storedRows(db.pool)).map((r) => r.outcome);
      assert.equal(new Set(outcomes).size, workers * perWorker);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  void it('appends a retried event once even when the retries race each other', async () => {
    const pools = Array.from({ length: 8 }, () => new pg.Pool({ connectionString: db.url, max: 1 }));
    try {
      const results = await Promise.all(
        pools.map((pool) => createAuditLog(pool).append(event({ action: 'send', idempotencyKey: 'raced-key' }))),
      );
      assert.equal(results.filter((r) => !r.duplicate).length, 1);
      assert.equal(new Set(results.map((r) => r.seq)).size, 1);
      assert.equal((await storedRows(db.pool)).length, 1);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  void it('refuses bad input with an error naming each bad field', async () => {
    const audit = createAuditLog(db.pool);
    const cases: [Partial<AuditEventInput> | Record<string, unknown>, RegExp][] = [
      [{ occurredAt: '2026-03-02' }, /occurredAt: must be an ISO-8601 date-time/],
      [{ practiceId: null }, /practiceId: is required/],
      [{ action: 'sent' }, /action:/],
      [{ channel: 'fax' }, /channel:/],
      [{ actor: { type: 'robot', id: 'x' } }, /actor\.type:/],
      [{ outcome: '' }, /outcome: must not be empty/],
      [{ outcome: 'a\u0000b' }, /outcome: must not contain a NUL/],
      [{ patientId: 'P\ud800' }, /patientId: must be well-formed Unicode/],
      [{ details: { count: Number.NaN } }, /details\.count: NaN is not a finite number/],
      [{ details: { nested: { s: 'x\u0000' } } }, /details\.nested\.s: must not contain a NUL/],
      [{ details: { d: new Date() } as unknown as Record<string, JsonValue> }, /details\.d: a non-plain object/],
      [{ details: [1, 2] as unknown as Record<string, JsonValue> }, /details: must be a plain JSON object/],
      [{ details: { big: 'x'.repeat(20_000) } }, /details: \d+ bytes of JSON, more than the 16384 allowed/],
    ];
    for (const [overrides, message] of cases) {
      await assert.rejects(
        audit.append(event(overrides)),
        (e: unknown) => e instanceof AuditInputError && message.test(e.message),
        `expected ${message} for ${JSON.stringify(overrides)}`,
      );
    }
    // An export may span practices; nothing else may.
    await audit.append(event({ practiceId: null, action: 'export', outcome: 'started' }));
    assert.equal((await storedRows(db.pool)).length, 1);
  });

  void it('accepts every action, and the list matches the database CHECK constraint', async () => {
    const r = await db.pool.query<{ def: string }>(
      `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
       WHERE conrelid = 'audit_log'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%action = ANY%'`,
    );
    const inDatabase = [...(r.rows[0]?.def ?? '').matchAll(/'([a-z-]+)'::text/g)].map((m) => m[1]);
    assert.deepEqual([...inDatabase].sort(), [...AUDIT_ACTIONS].sort());
    const audit = createAuditLog(db.pool);
    for (const action of AUDIT_ACTIONS) await audit.append(event({ action }));
    assert.equal((await verifyAuditChain(db.pool)).rows, AUDIT_ACTIONS.length);
  });

  void it('refuses a direct insert that does not extend the chain tail (link trigger)', async () => {
    await createAuditLog(db.pool).append(event());
    const insert = (seq: number, prev: string) =>
      db.pool.query(
        `INSERT INTO audit_log (seq, occurred_at, practice_id, actor_type, actor_id, action, outcome, prev_hash, row_hash)
         VALUES ($1, now()::timestamptz(3), 'practice-a', 'system', 'rogue', 'send', 'sent', $2, repeat('a', 64))`,
        [seq, prev],
      );
    await assert.rejects(insert(2, GENESIS_HASH), /append out of chain order: seq 2 does not follow the tail \(seq 1/);
    await assert.rejects(insert(5, (await storedRows(db.pool))[0]?.row_hash ?? ''), /append out of chain order/);
  });

  void it('stores awkward details so that what is read back hashes the same (property)', async () => {
    const audit = createAuditLog(db.pool);
    const awkward: Record<string, JsonValue>[] = [
      { one: 1.0, big: 1e21, tiny: 1e-7, neg: -0, max: Number.MAX_SAFE_INTEGER + 2, frac: 0.1 + 0.2 },
      { unicode: 'é ñ 中文 🧪 \u200d עברית', 'ключ 🔑': 'value', 'a"b\\c\n': '\t\r\u0001' },
      { empty: [], emptyObject: {}, nested: { b: [1, [2, [3, {}]]], a: { z: null, y: true } } },
      { b: 1, a: 2, aa: 3, B: 4, _: 5, '10': 6, '9': 7 },
    ];
    const jsonValue = fc.jsonValue({ maxDepth: 4 }).filter((v) => !JSON.stringify(v).includes('\\u0000'));
    const generated = fc.sample(fc.dictionary(fc.string({ unit: 'grapheme' }), jsonValue), { numRuns: 40, seed: 7 });
    const all = [...awkward, ...(generated as Record<string, JsonValue>[])].filter(
      (d) => !JSON.stringify(d).includes('\\u0000'),
    );
    for (const details of all) await audit.append(event({ details }));
    const rows = await storedRows(db.pool);
    rows.forEach((row, i) => {
      assert.equal(computeRowHash(row), row.row_hash);
      // The stored value means the same as the input (jsonb may respell numbers and reorder keys).
      assert.equal(canonicalJson(row.details), canonicalJson(JSON.parse(JSON.stringify(all[i])) as JsonValue));
    });
    assert.equal((await verifyAuditChain(db.pool, { batchSize: 7 })).ok, true);
  });
});
