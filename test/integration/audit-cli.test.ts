import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createAuditLog, type AuditEventInput } from '../../lib/audit';

const ROOT = path.resolve(__dirname, '../..');
const run = promisify(execFile);

/** Run a script the way `npm run audit:*` does (tsx), and return its exit code and output. */
async function script(name: string, args: string[], env: NodeJS.ProcessEnv) {
  // LABLOOP_TEST_PG_ADMIN_URL is dropped so the child sees only what an operator would set.
  const { LABLOOP_TEST_PG_ADMIN_URL: _admin, DATABASE_URL: _db, ...base } = process.env;
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'scripts', name), ...args],
      {
        cwd: ROOT,
        env: { ...base, ...env },
        timeout: 60_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const event = (i: number): AuditEventInput => ({
  occurredAt: `2026-01-${String(i).padStart(2, '0')}T08:30:00Z`,
  practiceId: 'practice-a',
  workflowId: `lab-result-practice-a-${String(i).padStart(16, '0')}`,
  patientId: i % 2 === 0 ? 'P2' : 'P1',
  actor: { type: 'system', id: 'worker' },
  action: 'delivery-status',
  channel: 'sms',
  outcome: 'delivered',
});

void describe('audit command-line scripts', () => {
  let db: TestDatabase;
  let dir: string;
  before(async () => {
    db = await createTestDatabase('audit_cli');
    dir = mkdtempSync(path.join(tmpdir(), 'labloop-audit-cli-'));
    const audit = createAuditLog(db.pool);
    for (let i = 1; i <= 6; i++) await audit.append(event(i));
  });
  after(async () => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    await db?.close();
  });

  void it('audit:verify exits 0 on an intact chain, then 1 naming the edited row', async () => {
    const intact = await script('audit-verify.ts', [], { DATABASE_URL: db.url });
    assert.equal(intact.code, 0, intact.stderr);
    assert.match(intact.stdout, /^audit chain intact: 6 rows, no anchors to check; head seq 6 hash [0-9a-f]{64}\n$/);
    const anchor = /head seq (\d+) hash ([0-9a-f]{64})/.exec(intact.stdout);

    const client = await db.pool.connect();
    try {
      await client.query('SET session_replication_role = replica');
      await client.query(`UPDATE audit_log SET outcome = 'undelivered' WHERE seq = 4`);
    } finally {
      await client.query('RESET session_replication_role');
      client.release();
    }
    const broken = await script('audit-verify.ts', ['--anchor', `${anchor?.[1]}:${anchor?.[2]}`], {
      DATABASE_URL: db.url,
    });
    assert.equal(broken.code, 1, broken.stderr);
    assert.match(broken.stdout, /^audit chain BROKEN at seq 4 \(edited\): .*; 3 rows intact before it\n$/);
  });

  void it('audit:verify exits 2 with a clear message when DATABASE_URL is missing or the anchor is malformed', async () => {
    const missing = await script('audit-verify.ts', [], {});
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /DATABASE_URL is not set/);
    const badAnchor = await script('audit-verify.ts', ['--anchor', '12'], { DATABASE_URL: db.url });
    assert.equal(badAnchor.code, 2);
    assert.match(badAnchor.stderr, /--anchor must be SEQ:HASH/);
  });

  void it('audit:export writes a patient export as CSV to a file and NDJSON to stdout, as the named operator', async () => {
    const out = path.join(dir, 'p1.csv');
    const csv = await script(
      'audit-export.ts',
      [
        '--from',
        '2026-01-02',
        '--to',
        '2026-01-06',
        '--practice',
        'practice-a',
        '--patient',
        'P1',
        '--format',
        'csv',
        '--out',
        out,
        '--actor',
        'admin-7',
      ],
      { DATABASE_URL: db.url },
    );
    assert.equal(csv.code, 0, csv.stderr);
    const lines = readFileSync(out, 'utf8').split('\r\n');
    assert.equal(lines.length, 5, 'header, rows 3 and 5, the chain head, and the empty string after the final CRLF');
    assert.match(lines[1] ?? '', /^3,2026-01-03T08:30:00.000Z,/);
    assert.match(lines[2] ?? '', /^5,2026-01-05T08:30:00.000Z,/);
    assert.match(lines[3] ?? '', /^#audit_chain_head,seq=6,row_hash=[0-9a-f]{64},anchored_at=/);
    assert.equal(statSync(out).mode & 0o777, 0o600);

    const nd = await script('audit-export.ts', ['--format', 'ndjson', '--to', '2026-01-03T00:00:00+00:00'], {
      DATABASE_URL: db.url,
    });
    assert.equal(nd.code, 0, nd.stderr);
    const rows = nd.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq?: string; audit_chain_head?: { seq: string } });
    assert.deepEqual(
      rows.map((r) => r.seq ?? `head ${r.audit_chain_head?.seq}`),
      ['1', '2', 'head 8'],
    );

    const exports = await db.pool.query<{ actor_id: string; outcome: string }>(
      `SELECT actor_id, outcome FROM audit_log WHERE action = 'export' ORDER BY seq`,
    );
    assert.deepEqual(exports.rows.slice(0, 2), [
      { actor_id: 'admin-7', outcome: 'started' },
      { actor_id: 'admin-7', outcome: 'completed' },
    ]);
    assert.equal(exports.rows.length, 4);
  });

  void it('audit:verify names rows cut off the end from the stored anchors, and from an export file kept elsewhere', async () => {
    const tail = await createTestDatabase('audit_cli_tail');
    try {
      const audit = createAuditLog(tail.pool);
      for (let i = 1; i <= 6; i++) await audit.append(event(i));
      // An export anchors the head (seq 6) in the database and in its file's trailer.
      const file = path.join(dir, 'kept-elsewhere.ndjson');
      const exported = await script('audit-export.ts', ['--format', 'ndjson', '--out', file], {
        DATABASE_URL: tail.url,
      });
      assert.equal(exported.code, 0, exported.stderr);
      const intact = await script('audit-verify.ts', [], { DATABASE_URL: tail.url });
      assert.equal(intact.code, 0, intact.stderr);
      assert.match(intact.stdout, /^audit chain intact: 8 rows, 1 anchor checked, up to seq 6; head seq 8 /);

      const attacker = await tail.pool.connect();
      try {
        await attacker.query('SET session_replication_role = replica');
        await attacker.query('DELETE FROM audit_log WHERE seq > 4');
      } finally {
        await attacker.query('RESET session_replication_role');
        attacker.release();
      }
      // No --anchor: the stored anchor names the loss.
      const cut = await script('audit-verify.ts', [], { DATABASE_URL: tail.url });
      assert.equal(cut.code, 1, cut.stderr);
      assert.match(cut.stdout, /^audit chain BROKEN at seq 5 \(deleted\): rows deleted after seq 4: /);

      // Someone who can delete rows can delete the stored anchors too; the export file still tells.
      const client = await tail.pool.connect();
      try {
        await client.query('SET session_replication_role = replica');
        await client.query('TRUNCATE audit_anchor');
      } finally {
        await client.query('RESET session_replication_role');
        client.release();
      }
      assert.equal((await script('audit-verify.ts', [], { DATABASE_URL: tail.url })).code, 0, 'nothing left to tell');
      const fromFile = await script('audit-verify.ts', ['--anchor-from', file], { DATABASE_URL: tail.url });
      assert.equal(fromFile.code, 1, fromFile.stderr);
      assert.match(
        fromFile.stdout,
        /rows deleted after seq 4: the chain ends there, but the anchor given records seq 6/,
      );

      const notAnExport = await script('audit-verify.ts', ['--anchor-from', path.join(ROOT, 'package.json')], {
        DATABASE_URL: tail.url,
      });
      assert.equal(notAnExport.code, 2);
      assert.match(notAnExport.stderr, /does not end with an audit export trailer/);
    } finally {
      await tail.close();
    }
  });

  void it('audit:export refuses bad arguments with a message naming them', async () => {
    const cases: [string[], RegExp][] = [
      [[], /--format must be csv or ndjson/],
      [['--format', 'csv', '--from', '01/02/2026'], /--from must be YYYY-MM-DD/],
      [['--format', 'csv', '--patient', 'P1'], /practiceId: required with patientId/],
      [['--format', 'csv', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const r = await script('audit-export.ts', args, { DATABASE_URL: db.url });
      assert.equal(r.code, 2, `${args.join(' ')} -> ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });
});
