import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { verifyAuditChain } from '../../lib/audit';
import { PROJECT_ROOT } from '../../lib/tools';
import type { Stack } from '../../sandbox/stack';
import type { ResultStatusView } from '../../workflows/definitions';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { eventually, startTestStack } from '../support/stack';

/**
 * Production runs the API and the worker as a login role that is a member of labloop_app and owns
 * nothing (migrations run as the owner). This runs the whole loop that way: a result goes from HL7
 * to a delivered SMS with every table write done by the runtime role, and that same role is refused
 * UPDATE, DELETE and TRUNCATE on the audit log and cannot switch its triggers off.
 */
const SAMPLE = readFileSync(path.join(PROJECT_ROOT, 'sandbox/demo/normal-signed.hl7'), 'utf8');
const PHONE = '+16175550123';

describe('the loop runs as the least-privileged runtime role', () => {
  let db: TestDatabase;
  let stack: Stack;
  let runtimeUrl: string;
  const role = `labloop_rt_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');

  before(async () => {
    db = await createTestDatabase('runtime_role');
    await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}' IN ROLE labloop_app`);
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    runtimeUrl = url.toString();
    stack = await startTestStack({
      policyOverrides: { patientQuietHours: { start: '00:00', end: '00:00' } },
      extra: { databaseUrl: runtimeUrl, migrationDatabaseUrl: db.url },
    });
    await db.pool.query(
      `INSERT INTO sms_consent (practice_id, patient_id, phone_e164, consented, source) VALUES ('195900', 'MRN-500', $1, true, 'staff')`,
      [PHONE],
    );
  });
  after(async () => {
    await stack?.stop();
    await db?.pool.query(`DROP OWNED BY ${role}`).catch(() => undefined);
    const admin = new pg.Client({ connectionString: process.env.LABLOOP_TEST_PG_ADMIN_URL ?? db?.url });
    await db?.close();
    await admin.connect().catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await admin.end().catch(() => undefined);
  });

  it('takes a result from HL7 to a delivered SMS', async () => {
    const response = await fetch(`${stack.urls.api}/v1/hl7`, {
      method: 'POST',
      headers: {
        'content-type': 'application/hl7-v2',
        accept: 'application/json',
        // athena's outbound ORU interface: the sender whose results arrive signed.
        authorization: `Bearer ${stack.secrets.athenaOruToken}`,
      },
      body: SAMPLE,
    });
    assert.equal(response.status, 202);
    const { results } = (await response.json()) as { results: { workflowId: string; statusUrl: string }[] };
    const statusUrl = results[0].statusUrl;
    await eventually(
      async () => {
        const view = (await (
          await fetch(statusUrl, { headers: { authorization: `Bearer ${stack.secrets.apiToken}` } })
        ).json()) as ResultStatusView;
        return view.deliveries?.some((d) => d.channel === 'sms' && d.status === 'delivered') ? view : undefined;
      },
      60_000,
      'the delivered SMS',
    );
    assert.equal(stack.fakes.twilio.messages().filter((m) => m.to === PHONE).length, 1);
  });

  it('wrote the audit log as the runtime role, and the chain is intact', async () => {
    const { rows } = await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM audit_log`);
    assert.ok(Number(rows[0]?.n) > 0);
    assert.equal((await verifyAuditChain(db.pool)).ok, true);
  });

  it('is refused UPDATE, DELETE and TRUNCATE on the audit log, and cannot disable its triggers', async () => {
    const runtime = new pg.Client({ connectionString: runtimeUrl });
    await runtime.connect();
    try {
      for (const sql of [
        `UPDATE audit_log SET outcome = 'edited'`,
        `DELETE FROM audit_log`,
        `TRUNCATE audit_log`,
        `ALTER TABLE audit_log DISABLE TRIGGER ALL`,
      ]) {
        await assert.rejects(runtime.query(sql), /permission denied|must be owner/, sql);
      }
      // Its ordinary work is allowed.
      await runtime.query(`SELECT count(*) FROM outbox`);
    } finally {
      await runtime.end();
    }
  });
});
