import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createAuditLog, verifyAuditChain, type AuditEventInput } from '../../lib/audit';
import { appendAuditInTransaction } from '../../lib/audit/append';
import { inTransaction } from '../../lib/db/transaction';

/** Separate pools stand for separate processes: nothing is shared but the database. */
const PROCESSES = 4;
const LOOPS_PER_PROCESS = 4;
const APPENDS_PER_LOOP = 15;
const TOTAL = PROCESSES * LOOPS_PER_PROCESS * APPENDS_PER_LOOP;

function event(p: number, loop: number, i: number): AuditEventInput {
  return {
    occurredAt: new Date().toISOString(),
    practiceId: `practice-${p % 2}`,
    workflowId: `lab-result-p${p}-l${loop}`,
    actor: { type: 'system', id: `worker-${p}` },
    action: 'send',
    channel: 'sms',
    outcome: 'sent',
    details: { p, loop, i },
    idempotencyKey: `p${p}:l${loop}:${i}`,
  };
}

void describe('audit appends from several processes at once', () => {
  let db: TestDatabase;
  const pools: pg.Pool[] = [];
  before(async () => {
    db = await createTestDatabase('audit_concurrent');
    for (let p = 0; p < PROCESSES; p++) pools.push(new pg.Pool({ connectionString: db.url, max: LOOPS_PER_PROCESS }));
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await db?.close();
  });

  void it(`${PROCESSES} pools x ${LOOPS_PER_PROCESS} appenders: one gapless chain, every event once, nobody waits on a lock`, async () => {
    // Anyone blocked on the chain lock would show in pg_locks as a waiting advisory lock.
    let waitingOnLock = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const r = await db.pool.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
        );
        waitingOnLock = Math.max(waitingOnLock, Number(r.rows[0]?.n ?? 0));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const results = await Promise.all(
      pools.flatMap((pool, p) => {
        const audit = createAuditLog(pool);
        return Array.from({ length: LOOPS_PER_PROCESS }, async (_, loop) => {
          const out = [];
          for (let i = 0; i < APPENDS_PER_LOOP; i++) out.push(await audit.append(event(p, loop, i)));
          // A retry of an event already appended returns it, wherever it landed in the chain.
          const retry = await audit.append(event(p, loop, 0));
          assert.deepEqual(retry, { ...out[0], duplicate: true });
          return out;
        });
      }),
    );
    sampling = false;
    await sampler;

    const seqs = results.flat().map((r) => r.seq);
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      Array.from({ length: TOTAL }, (_, i) => i + 1),
      'every append got its own place in one gapless chain',
    );
    // Within one appender, its events are chained in the order it appended them.
    for (const loop of results)
      for (let i = 1; i < loop.length; i++) assert.ok((loop[i]?.seq ?? 0) > (loop[i - 1]?.seq ?? 0));
    const unsealed = await db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_log WHERE seq IS NULL`);
    assert.equal(unsealed.rows[0]?.n, '0');
    assert.equal(waitingOnLock, 0, 'no appender waited on an advisory lock');
    const verified = await verifyAuditChain(db.pool, { batchSize: 37 });
    assert.equal(verified.ok && verified.rows, TOTAL, JSON.stringify(verified));
  });

  void it("appends inside callers' transactions while others append, and a rolled-back one leaves no gap", async () => {
    const before = await verifyAuditChain(db.pool);
    assert.ok(before.ok);
    const audit = createAuditLog(pools[0]);
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => audit.append(event(9, 0, i))),
      ...Array.from({ length: 10 }, (_, i) =>
        inTransaction(pools[1], (client) => appendAuditInTransaction(client, event(9, 1, i))),
      ),
      inTransaction(pools[2], async (client) => {
        await appendAuditInTransaction(client, event(9, 2, 0));
        throw new Error('the caller gives up: its audit row goes with it');
      }).catch(() => undefined),
    ]);
    // Rows of transactions that committed after the last seal are sealed by the next append.
    await audit.append(event(9, 3, 0));
    const after = await verifyAuditChain(db.pool);
    assert.equal(after.ok && after.rows, before.rows + 31, JSON.stringify(after));
    const gone = await db.pool.query(`SELECT 1 FROM audit_log WHERE idempotency_key = 'p9:l2:0'`);
    assert.equal(gone.rowCount, 0);
  });

  void it('still names the first edited, deleted or reordered row of a chain written concurrently', async () => {
    const attacker = await db.pool.connect();
    const attack = async (...sql: string[]) => {
      await attacker.query('SET session_replication_role = replica');
      try {
        for (const s of sql) await attacker.query(s);
      } finally {
        await attacker.query('RESET session_replication_role');
      }
    };
    const check = async (seq: number, problem: string) => {
      const r = await verifyAuditChain(db.pool);
      assert.ok(!r.ok && r.firstBadSeq === seq && r.problem === problem, JSON.stringify(r));
    };
    try {
      await attack(`UPDATE audit_log SET outcome = 'failed' WHERE seq = 100`);
      await check(100, 'edited');
      await attack(`UPDATE audit_log SET outcome = 'sent' WHERE seq = 100`);

      await attack(
        'CREATE TEMP TABLE kept AS SELECT * FROM audit_log WHERE seq = 57',
        'DELETE FROM audit_log WHERE seq = 57',
      );
      await check(57, 'deleted');
      await attack('INSERT INTO audit_log SELECT * FROM kept', 'DROP TABLE kept');

      const swap = [
        'UPDATE audit_log SET seq = 1000000 WHERE seq = 200',
        'UPDATE audit_log SET seq = 200 WHERE seq = 201',
        'UPDATE audit_log SET seq = 201 WHERE seq = 1000000',
      ];
      await attack(...swap);
      await check(200, 'reordered');
      await attack(...swap);
    } finally {
      attacker.release();
    }
    assert.equal((await verifyAuditChain(db.pool)).ok, true);
  });
});
