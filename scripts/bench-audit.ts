/**
 * `npm run bench:audit [-- --processes P --concurrency C --appends N]`
 *
 * Audit append throughput, old against new, measured in the same run on the same database server:
 * - baseline: the old appender's scheme (one global advisory lock per append, held across the
 *   idempotency lookup, the tail read, the insert and the commit), on a copy of audit_log;
 * - new: lib/audit's lock-free append (one INSERT) with group-commit sealing.
 * P pools stand for P processes, each with C appenders in flight; N appends per side. Prints
 * appends/s for both and their ratio, and checks the new chain with verifyAuditChain. A benchmark,
 * not a test: figures vary run to run and machine to machine (test/integration/bench-audit.test.ts
 * only checks that it runs on a tiny load). DATABASE_URL names a server to create a scratch
 * database on (admin rights); without it an embedded PostgreSQL is started.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createAuditLog, computeRowHash, verifyAuditChain, type AuditEventInput } from '../lib/audit';
import { GENESIS_HASH } from '../lib/audit/record';
import { normalizeEvent } from '../lib/audit/validate';
import { createDatabaseIfMissing } from '../sandbox/servers/create-database';
import { startEmbeddedPostgres } from '../sandbox/servers/embedded-postgres';
import { migrateUp } from '../lib/db/migrate';

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '4' },
    appends: { type: 'string', default: '2000' },
  },
  strict: true,
});
const PROCESSES = Number(values.processes);
const CONCURRENCY = Number(values.concurrency);
const APPENDS = Number(values.appends);
for (const [name, n] of Object.entries({ PROCESSES, CONCURRENCY, APPENDS }))
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name.toLowerCase()} must be a positive integer`);

function event(i: number): AuditEventInput {
  return {
    occurredAt: new Date().toISOString(),
    practiceId: `practice-${i % 3}`,
    workflowId: `lab-result-bench-${i % 97}`,
    actor: { type: 'system', id: 'bench' },
    action: 'send',
    channel: 'sms',
    outcome: 'sent',
    details: { i },
    idempotencyKey: `bench:${i}`,
  };
}

const LEGACY_LOCK_KEY = 7809631446702714999n;

/** The old appender, statement for statement (lib/audit/append.ts before migration 630). */
async function legacyAppend(pool: pg.Pool, input: AuditEventInput): Promise<void> {
  const e = normalizeEvent(input);
  const client = await pool.connect();
  try {
    await client.query('BEGIN; SET LOCAL lock_timeout = 10000');
    await client.query('SELECT pg_advisory_xact_lock($1)', [LEGACY_LOCK_KEY.toString()]);
    await client.query('SELECT seq FROM bench_legacy_audit WHERE idempotency_key = $1', [e.idempotency_key]);
    const tail = await client.query<{
      seq: string | null;
      row_hash: string | null;
      recorded_at: string;
      details: string;
    }>(
      `SELECT t.seq::text AS seq, t.row_hash,
              to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS recorded_at,
              $1::jsonb::text AS details
         FROM (SELECT 1) AS one LEFT JOIN (SELECT seq, row_hash FROM bench_legacy_audit ORDER BY seq DESC LIMIT 1) t ON true`,
      [JSON.stringify(e.details)],
    );
    const t = tail.rows[0];
    const seq = t?.seq == null ? 1n : BigInt(t.seq) + 1n;
    const record = {
      ...e,
      seq: seq.toString(),
      recorded_at: t?.recorded_at ?? '',
      prev_hash: t?.row_hash ?? GENESIS_HASH,
    };
    await client.query(
      `INSERT INTO bench_legacy_audit (seq, occurred_at, recorded_at, practice_id, workflow_id, actor_type, actor_id,
         action, channel, outcome, details, idempotency_key, prev_hash, row_hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14)`,
      [
        record.seq,
        record.occurred_at,
        record.recorded_at,
        record.practice_id,
        record.workflow_id,
        record.actor_type,
        record.actor_id,
        record.action,
        record.channel,
        record.outcome,
        t?.details ?? '{}',
        record.idempotency_key,
        record.prev_hash,
        computeRowHash(record),
      ],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Run `append` APPENDS times from PROCESSES pools x CONCURRENCY appenders; appends per second. */
async function measure(url: string, append: (pool: pg.Pool, i: number) => Promise<unknown>): Promise<number> {
  const pools = Array.from({ length: PROCESSES }, () => {
    const pool = new pg.Pool({ connectionString: url, max: CONCURRENCY });
    // Idle connections are cut when the embedded server stops at the end; that is no failure.
    pool.on('error', () => undefined);
    return pool;
  });
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    pools.flatMap((pool) =>
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < APPENDS; i = next++) await append(pool, i);
      }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await Promise.all(pools.map((p) => p.end()));
  return APPENDS / seconds;
}

async function main(): Promise<void> {
  const embedded = process.env.DATABASE_URL === undefined ? await startEmbeddedPostgres() : undefined;
  try {
    const admin = process.env.DATABASE_URL ?? embedded?.adminUrl ?? '';
    const url = await createDatabaseIfMissing(admin, `bench_audit_${randomBytes(4).toString('hex')}`);
    await migrateUp(url);
    const setup = new pg.Client({ connectionString: url });
    setup.on('error', () => undefined);
    await setup.connect();
    await setup.query(
      `CREATE TABLE bench_legacy_audit (seq BIGINT PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL, recorded_at TIMESTAMPTZ NOT NULL,
         practice_id TEXT, workflow_id TEXT, actor_type TEXT NOT NULL, actor_id TEXT NOT NULL, action TEXT NOT NULL,
         channel TEXT, outcome TEXT NOT NULL, details JSONB NOT NULL, idempotency_key TEXT UNIQUE,
         prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL UNIQUE)`,
    );
    const baseline = await measure(url, (pool, i) => legacyAppend(pool, event(i)));
    const logs = new Map<pg.Pool, ReturnType<typeof createAuditLog>>();
    const lockFree = await measure(url, (pool, i) => {
      const log = logs.get(pool) ?? createAuditLog(pool);
      logs.set(pool, log);
      return log.append(event(i));
    });
    const verifyPool = new pg.Pool({ connectionString: url, max: 2 });
    verifyPool.on('error', () => undefined);
    const verified = await verifyAuditChain(verifyPool);
    await verifyPool.end();
    await setup.query('SELECT 1');
    await setup.end();
    const fmt = (n: number) => n.toFixed(0).padStart(6);
    console.log(`audit appends, ${PROCESSES} pools x ${CONCURRENCY} in flight, ${APPENDS} appends each side:`);
    console.log(`  baseline, one global chain lock per append: ${fmt(baseline)} appends/s`);
    console.log(`  lock-free append + group-commit sealing:    ${fmt(lockFree)} appends/s`);
    console.log(`  ratio new/baseline: ${(lockFree / baseline).toFixed(2)}x`);
    if (!verified.ok || verified.rows !== APPENDS)
      throw new Error(`the benchmark's chain does not verify: ${JSON.stringify(verified)}`);
    console.log(`  chain verified: ${verified.rows} rows`);
  } finally {
    await embedded?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(`bench:audit: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
