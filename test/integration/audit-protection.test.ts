import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { anchorAuditHead, createAuditLog, verifyAuditChain, type AuditEventInput } from '../../lib/audit';

const sample: AuditEventInput = {
  occurredAt: '2026-03-02T14:05:06.789Z',
  practiceId: 'practice-a',
  workflowId: 'lab-result-practice-a-0123456789abcdef',
  patientId: 'P100',
  actor: { type: 'provider', id: 'dr-1' },
  action: 'sign-off',
  outcome: 'signed',
};

const CHANGES = {
  UPDATE: `UPDATE audit_log SET outcome = 'rewritten' WHERE seq = 1`,
  DELETE: 'DELETE FROM audit_log WHERE seq = 1',
  TRUNCATE: 'TRUNCATE audit_log',
} as const;

void describe('audit log protection', () => {
  let db: TestDatabase;
  // A login role like the application's: a member of labloop_app, not the owner of audit_log.
  const appLogin = `audit_app_${randomBytes(4).toString('hex')}`;
  const appPassword = randomBytes(12).toString('hex');
  let appPool: pg.Pool;

  before(async () => {
    db = await createTestDatabase('audit_protection');
    await db.pool.query(`CREATE ROLE ${appLogin} LOGIN PASSWORD '${appPassword}' IN ROLE labloop_app`);
    const url = new URL(db.url);
    url.username = appLogin;
    url.password = appPassword;
    appPool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    await createAuditLog(db.pool).append(sample);
  });
  after(async () => {
    await appPool?.end();
    await db?.pool.query(`DROP ROLE IF EXISTS ${appLogin}`);
    await db?.close();
  });

  void it('refuses UPDATE, DELETE and TRUNCATE by trigger, even for the owner (a superuser here)', async () => {
    const owner = await db.pool.query<{ owner: string; me: string }>(
      `SELECT tableowner AS owner, current_user AS me FROM pg_tables WHERE tablename = 'audit_log'`,
    );
    assert.equal(owner.rows[0]?.owner, owner.rows[0]?.me);
    for (const [op, sql] of Object.entries(CHANGES))
      await assert.rejects(db.pool.query(sql), new RegExp(`audit_log is append-only: ${op} is refused`));
    assert.equal((await verifyAuditChain(db.pool)).rows, 1);
  });

  void it('lets the application role append and read, and denies it changes even with the triggers off', async () => {
    // The application's role is enough for the whole append path (chain lock, tail read, insert).
    const appended = await createAuditLog(appPool).append({ ...sample, action: 'send', outcome: 'sent' });
    assert.equal(appended.seq, 2);
    assert.equal((await verifyAuditChain(appPool)).ok, true);

    await db.pool.query('ALTER TABLE audit_log DISABLE TRIGGER USER');
    try {
      for (const sql of Object.values(CHANGES))
        await assert.rejects(appPool.query(sql), /permission denied for table audit_log/);
      // Nor can it turn the triggers off itself.
      await assert.rejects(appPool.query('ALTER TABLE audit_log DISABLE TRIGGER USER'), /must be owner of table/);
    } finally {
      await db.pool.query('ALTER TABLE audit_log ENABLE TRIGGER USER');
    }
    assert.equal((await verifyAuditChain(db.pool)).rows, 2);
  });

  void it('protects the anchors the same way: the application appends, nobody changes or removes them', async () => {
    // The application role records a head (what the worker's periodic anchoring does)...
    const anchor = await anchorAuditHead(appPool, 'periodic');
    assert.equal(anchor?.seq, 2);
    // ...but never one the chain does not have.
    await assert.rejects(
      appPool.query(`INSERT INTO audit_anchor (head_seq, head_hash, reason) VALUES (2, $1, 'manual')`, [
        'f'.repeat(64),
      ]),
      /audit_anchor: no audit_log row 2 with hash f{64}/,
    );
    const changes = {
      UPDATE: `UPDATE audit_anchor SET head_seq = 1`,
      DELETE: 'DELETE FROM audit_anchor',
      TRUNCATE: 'TRUNCATE audit_anchor',
    };
    for (const [op, sql] of Object.entries(changes))
      await assert.rejects(db.pool.query(sql), new RegExp(`audit_anchor is append-only: ${op} is refused`));
    await db.pool.query('ALTER TABLE audit_anchor DISABLE TRIGGER USER');
    try {
      for (const sql of Object.values(changes))
        await assert.rejects(appPool.query(sql), /permission denied for table audit_anchor/);
      await assert.rejects(appPool.query('ALTER TABLE audit_anchor DISABLE TRIGGER USER'), /must be owner of table/);
    } finally {
      await db.pool.query('ALTER TABLE audit_anchor ENABLE TRIGGER USER');
    }
    const grants = await db.pool.query<{ privilege_type: string }>(
      `SELECT privilege_type FROM information_schema.role_table_grants
       WHERE table_name = 'audit_anchor' AND grantee = 'labloop_app' ORDER BY privilege_type`,
    );
    assert.deepEqual(
      grants.rows.map((g) => g.privilege_type),
      ['INSERT', 'SELECT'],
    );
    assert.equal((await verifyAuditChain(db.pool)).ok, true);
  });

  void it('creates labloop_app idempotently and without login', async () => {
    const r = await db.pool.query<{ rolcanlogin: boolean }>(
      `SELECT rolcanlogin FROM pg_roles WHERE rolname = 'labloop_app'`,
    );
    assert.deepEqual(r.rows, [{ rolcanlogin: false }]);
    // A second database on the same server migrates without tripping over the existing role.
    const other = await createTestDatabase('audit_protection_again');
    try {
      const grants = await other.pool.query<{ privilege_type: string }>(
        `SELECT privilege_type FROM information_schema.role_table_grants
         WHERE table_name = 'audit_log' AND grantee = 'labloop_app' ORDER BY privilege_type`,
      );
      assert.deepEqual(
        grants.rows.map((g) => g.privilege_type),
        ['INSERT', 'SELECT'],
      );
    } finally {
      await other.close();
    }
  });
});
