import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startFakeS3, FAKE_S3_CREDENTIALS, type FakeS3 } from '../support/fake-s3';
import {
  createAuditLog,
  computeRowHash,
  verifyAuditChain,
  type AuditEventInput,
  type VerifyResult,
} from '../../lib/audit';
import { AUDIT_RECORD_SELECT, parseStoredRow } from '../../lib/audit/record';
import { directoryAnchorStore, type AnchorStore } from '../../lib/audit/anchor-store';
import { s3AnchorStore } from '../../lib/audit/anchor-store-s3';
import {
  AnchorInvalidError,
  createAnchorPublisher,
  loadSignedHashes,
  parseSignedAnchor,
} from '../../lib/audit/external-anchor';
import { generateAnchorKeyPair, loadAnchorSigner, loadPublicKeys } from '../../lib/audit/signing';

const ROOT = path.resolve(__dirname, '../..');
const ROWS = 12;

function event(i: number): AuditEventInput {
  return {
    occurredAt: new Date(Date.UTC(2026, 3, 1, 9, 0, i)).toISOString(),
    practiceId: 'practice-a',
    workflowId: `lab-result-practice-a-${String(i).padStart(16, '0')}`,
    patientId: `P${i % 4}`,
    actor: { type: 'system', id: 'worker' },
    action: i % 2 === 0 ? 'send' : 'delivery-status',
    channel: 'sms',
    outcome: i % 2 === 0 ? 'sent' : 'delivered',
    details: { step: i },
  };
}

/** The database owner with the triggers off: what a superuser, or whoever owns the cluster, can do. */
async function asOwner(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<void>) {
  const client = await pool.connect();
  try {
    await client.query('SET session_replication_role = replica');
    await work(client);
  } finally {
    await client.query('RESET session_replication_role');
    client.release();
  }
}

/**
 * The attack of issue 12 §3: edit row `from`, recompute the hash of every row from there on so the
 * chain is consistent again, and insert a matching anchor into audit_anchor for the new head.
 */
async function rewriteFrom(pool: pg.Pool, from: number, change: (seq: number) => { outcome?: string }) {
  await asOwner(pool, async (client) => {
    const { rows } = await client.query(
      `SELECT ${AUDIT_RECORD_SELECT} FROM audit_log WHERE seq >= $1 ORDER BY audit_log.seq`,
      [from - 1],
    );
    const records = rows.map(parseStoredRow);
    let prev = records[0]?.row_hash ?? '';
    for (const r of records.slice(1)) {
      const edited = { ...r, ...change(Number(r.seq)), prev_hash: prev };
      const hash = computeRowHash(edited);
      await client.query(`UPDATE audit_log SET outcome = $1, prev_hash = $2, row_hash = $3 WHERE seq = $4`, [
        edited.outcome,
        prev,
        hash,
        r.seq,
      ]);
      prev = hash;
    }
    await client.query(`INSERT INTO audit_anchor (head_seq, head_hash, reason) VALUES ($1, $2, 'periodic')`, [
      records.at(-1)?.seq,
      prev,
    ]);
  });
}

function assertBad(result: VerifyResult, seq: number, problem: string, detail?: RegExp) {
  assert.equal(result.ok, false, `expected tampering to be found, got ${JSON.stringify(result)}`);
  if (result.ok) return;
  assert.equal(result.firstBadSeq, seq, result.detail);
  assert.equal(result.problem, problem, result.detail);
  if (detail !== undefined) assert.match(result.detail, detail);
}

void describe('signed audit anchors outside the database', () => {
  let db: TestDatabase;
  let work: string;
  let keyA: ReturnType<typeof generateAnchorKeyPair>;
  let anchorsDir: string;
  let store: AnchorStore;

  before(async () => {
    db = await createTestDatabase('audit_signed');
    work = mkdtempSync(path.join(tmpdir(), 'labloop-signed-anchors-'));
    keyA = generateAnchorKeyPair(path.join(work, 'keys'));
  });
  after(async () => {
    await db?.close();
    rmSync(work, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await asOwner(db.pool, async (c) => {
      await c.query('TRUNCATE audit_log');
      await c.query('TRUNCATE audit_anchor');
    });
    anchorsDir = mkdtempSync(path.join(work, 'anchors-'));
    store = directoryAnchorStore(anchorsDir);
    const audit = createAuditLog(db.pool);
    for (let i = 1; i <= ROWS; i++) await audit.append(event(i));
    const publisher = createAnchorPublisher({ pool: db.pool, signer: loadAnchorSigner(keyA.privateKeyFile), store });
    assert.equal(await publisher.publish(), ROWS);
    assert.equal(await publisher.publish(), 0, 'nothing new to publish');
  });

  const signed = (keyFiles = [keyA.publicKeyFile]) => loadSignedHashes(store, loadPublicKeys(keyFiles));

  void it('verifies an intact chain against its signed anchors', async () => {
    const result = await verifyAuditChain(db.pool, { signed: await signed() });
    assert.equal(result.ok, true, JSON.stringify(result));
    if (result.ok) assert.equal(result.signedRowsChecked, ROWS);
  });

  void it('catches a chain rewritten with recomputed hashes and matching stored anchors, naming the first changed row', async () => {
    await rewriteFrom(db.pool, 5, (seq) => (seq === 5 ? { outcome: 'undelivered' } : {}));
    // Everything inside the database agrees with itself now: the stored anchors alone are fooled.
    const inside = await verifyAuditChain(db.pool);
    assert.equal(inside.ok, true, JSON.stringify(inside));
    assertBad(
      await verifyAuditChain(db.pool, { signed: await signed(), batchSize: 4 }),
      5,
      'rewritten',
      /row 5 has hash [0-9a-f]{64}, but signed anchor audit-anchor-0000000000000012-0000000000000000-[0-9a-f]{16}\.json .*\(row 4 still has its signed hash, so row 5 is the first row changed/,
    );
  });

  void it('catches rows cut off the end even when audit_anchor was emptied too', async () => {
    await asOwner(db.pool, async (c) => {
      await c.query(`DELETE FROM audit_log WHERE seq > 9`);
      await c.query('TRUNCATE audit_anchor');
    });
    assert.equal((await verifyAuditChain(db.pool)).ok, true);
    assertBad(
      await verifyAuditChain(db.pool, { signed: await signed() }),
      10,
      'deleted',
      /rows deleted after seq 9: .* signs seq 12/,
    );
  });

  void it('refuses an anchor file that was altered, or signed with a key not given', async () => {
    const [name = ''] = readdirSync(anchorsDir).filter((n) => n.endsWith('.json'));
    const file = path.join(anchorsDir, name);
    const original = readFileSync(file, 'utf8');
    const doc = JSON.parse(original) as { row_hashes: string[] };
    doc.row_hashes[4] = 'a'.repeat(64);
    chmodSync(file, 0o644);
    writeFileSync(file, JSON.stringify(doc));
    await assert.rejects(
      signed(),
      (e: unknown) => e instanceof AnchorInvalidError && /signature that does not verify/.test(e.message),
    );
    const other = generateAnchorKeyPair(path.join(work, 'other-keys'));
    assert.throws(
      () => parseSignedAnchor(name, original, loadPublicKeys([other.publicKeyFile])),
      /signed with key [0-9a-f]{16}, which is not among the public keys given/,
    );
  });

  void it('never overwrites an anchor in the directory', async () => {
    const [name = ''] = readdirSync(anchorsDir).filter((n) => n.endsWith('.json'));
    const before = readFileSync(path.join(anchorsDir, name), 'utf8');
    assert.equal(await store.put(name, '{"forged":true}'), 'exists');
    assert.equal(readFileSync(path.join(anchorsDir, name), 'utf8'), before);
  });

  void it('keeps verifying old anchors after a key rotation, with the old public key kept', async () => {
    const keyB = generateAnchorKeyPair(path.join(work, 'rotated'));
    const audit = createAuditLog(db.pool);
    for (let i = ROWS + 1; i <= ROWS + 4; i++) await audit.append(event(i));
    const publisherB = createAnchorPublisher({ pool: db.pool, signer: loadAnchorSigner(keyB.privateKeyFile), store });
    assert.equal(await publisherB.publish(), 4, 'the new key picks up where the store leaves off');
    const both = await signed([keyA.publicKeyFile, keyB.publicKeyFile]);
    assert.deepEqual(both.keyIds, [keyA.keyId, keyB.keyId].sort());
    const result = await verifyAuditChain(db.pool, { signed: both });
    assert.equal(result.ok && result.signedRowsChecked, ROWS + 4);
    await assert.rejects(signed([keyB.publicKeyFile]), new RegExp(`signed with key ${keyA.keyId}, which is not among`));
  });

  void it('npm run audit:verify with the public key names the first rewritten row (exit 1)', async () => {
    const run = promisify(execFile);
    const { LABLOOP_TEST_PG_ADMIN_URL: _a, DATABASE_URL: _d, ...base } = process.env;
    const verify = async (args: string[]) =>
      run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/audit-verify.ts'), ...args], {
        cwd: ROOT,
        env: { ...base, DATABASE_URL: db.url },
      }).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }),
      );
    const args = ['--anchors-dir', anchorsDir, '--public-key', keyA.publicKeyFile];
    const intact = await verify(args);
    assert.equal(intact.code, 0, intact.out);
    assert.match(intact.out, /1 signed anchor in .* 12 rows matched their signed hash; head seq 12/);
    await rewriteFrom(db.pool, 7, (seq) => (seq === 7 ? { outcome: 'forged' } : {}));
    assert.equal((await verify([])).code, 0, 'without the signed anchors the rewrite passes');
    const caught = await verify(args);
    assert.equal(caught.code, 1, caught.out);
    assert.match(caught.out, /audit chain BROKEN at seq 7 \(rewritten\)/);
    const noKey = await verify(['--anchors-dir', anchorsDir]);
    assert.equal(noKey.code, 2);
    assert.match(noKey.out, /give the public keys/);
  });
});

void describe('signed audit anchors in an S3 bucket with Object Lock (local fake S3)', () => {
  let db: TestDatabase;
  let s3: FakeS3;
  let work: string;
  before(async () => {
    db = await createTestDatabase('audit_signed_s3');
    s3 = await startFakeS3();
    work = mkdtempSync(path.join(tmpdir(), 'labloop-s3-anchors-'));
  });
  after(async () => {
    await s3?.close();
    await db?.close();
    rmSync(work, { recursive: true, force: true });
  });

  void it('publishes locked, write-once objects and verifies the chain against them', async () => {
    const key = generateAnchorKeyPair(work);
    const now = new Date('2026-04-01T10:00:00.000Z');
    const store = s3AnchorStore({
      ...FAKE_S3_CREDENTIALS,
      url: `${s3.url}/${s3.bucket}/labloop/anchors`,
      retentionDays: 2192,
      lockMode: 'COMPLIANCE',
    });
    const publisher = createAnchorPublisher({
      pool: db.pool,
      signer: loadAnchorSigner(key.privateKeyFile),
      store,
      maxRowsPerAnchor: 2,
      now: () => now,
    });
    const audit = createAuditLog(db.pool);
    for (let i = 1; i <= 5; i++) await audit.append(event(i));
    assert.equal(await publisher.publish(), 5);
    // Five rows, two per object: three objects, each under compliance-mode retention.
    assert.equal(s3.objects.size, 3);
    for (const [name, o] of s3.objects) {
      assert.match(name, /^labloop\/anchors\/audit-anchor-\d{16}-\d{16}-[0-9a-f]{16}\.json$/);
      assert.equal(o.lockMode, 'COMPLIANCE');
      assert.ok(o.retainUntil !== undefined && new Date(o.retainUntil) > new Date('2032-01-01'), o.retainUntil);
    }
    // A second publisher (another worker) finds where the bucket leaves off, across list pages.
    for (let i = 6; i <= 7; i++) await audit.append(event(i));
    const second = createAnchorPublisher({ pool: db.pool, signer: loadAnchorSigner(key.privateKeyFile), store });
    assert.equal(await second.publish(), 2);
    const name = (await store.list()).sort()[0] ?? '';
    assert.equal(await store.put(name, '{}'), 'exists', 'If-None-Match: * keeps the first object');
    const hashes = await loadSignedHashes(store, loadPublicKeys([key.publicKeyFile]));
    assert.equal(hashes.anchors, 4);
    const result = await verifyAuditChain(db.pool, { signed: hashes });
    assert.equal(result.ok && result.signedRowsChecked, 7);

    const wrongSecret = s3AnchorStore({
      ...FAKE_S3_CREDENTIALS,
      secretAccessKey: 'wrong',
      url: `${s3.url}/${s3.bucket}`,
      retentionDays: 1,
      lockMode: 'COMPLIANCE',
    });
    await assert.rejects(wrongSecret.list(), /S3 answered 403 .*SignatureDoesNotMatch/);
  });
});
