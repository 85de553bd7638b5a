import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { buildApp } from '../../api/app';
import type { StaffSessionCaller, StaffSessionLookup } from '../../api/auth/privileged';
import { AUDIT_CSV_HEADER, createAuditLog, type AuditEventInput } from '../../lib/audit';
import { DEFAULT_EXPORT_BATCH_SIZE } from '../../lib/audit/export';
import { TEST_TOKENS, testApiDeps } from '../support/api-app';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * `GET /v1/audit/export` on a real database: administrators only, NDJSON and CSV as attachments,
 * filters, validation messages, streaming page by page, and the export's own audit trail.
 */

const ADMIN = { authorization: `Bearer ${TEST_TOKENS.admin}` };
const session = (role: StaffSessionCaller['role'], practiceId = '195900') => ({
  cookie: `session=${role === 'administrator' ? 'admin-1' : `${role}-1`}:${role}:${practiceId}`,
});

function event(day: number, overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    occurredAt: `2026-03-${String(day).padStart(2, '0')}T12:00:00.000Z`,
    practiceId: '195900',
    workflowId: `lab-result-195900-${String(day).padStart(32, '0')}`,
    patientId: 'P1',
    actor: { type: 'system', id: 'worker' },
    action: 'send',
    channel: 'sms',
    outcome: 'sent',
    details: { day },
    ...overrides,
  };
}

/** The rows of an NDJSON export: every line but the last, which must be the chain-head trailer. */
const lines = (body: string) => {
  const all = body
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(all.at(-1)?.audit_chain_head !== undefined, 'the export ends with the chain head');
  return all.slice(0, -1);
};

/** Export events this test caused, newest last. */
async function exportEvents(
  pool: Pool,
): Promise<{ actor_type: string; actor_id: string; outcome: string; details: Record<string, unknown> }[]> {
  const { rows } = await pool.query<{
    actor_type: string;
    actor_id: string;
    outcome: string;
    details: Record<string, unknown>;
  }>(`SELECT actor_type, actor_id, outcome, details FROM audit_log WHERE action = 'export' ORDER BY seq`);
  return rows;
}

/**
 * A pool whose keyset page queries wait at a gate from the second page on, so the test can look at
 * the response while the export is provably unfinished.
 */
function gatedPool(pool: Pool) {
  let pageQueries = 0;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const gated = new Proxy(pool, {
    get(target, property, receiver) {
      if (property !== 'query') return Reflect.get(target, property, receiver) as unknown;
      return async (...args: Parameters<Pool['query']>) => {
        const sql = typeof args[0] === 'string' ? args[0] : '';
        if (sql.includes('ORDER BY audit_log.occurred_at') && ++pageQueries >= 2) await gate;
        return (target.query as (...a: unknown[]) => Promise<unknown>)(...args);
      };
    },
  });
  return { pool: gated, release: () => open(), pageQueries: () => pageQueries };
}

/**
 * Both databases live for the whole file: closing the last one stops a file-private PostgreSQL,
 * and starting it again for a second suite is slow and needless.
 */
let db: TestDatabase;
let streamDb: TestDatabase;
before(async () => {
  db = await createTestDatabase('audit_export_route');
  streamDb = await createTestDatabase('audit_export_stream');
});
after(async () => {
  await db?.close();
  await streamDb?.close();
});

describe('audit export endpoint', () => {
  let app: FastifyInstance;
  const staffSession: StaffSessionLookup = (request) => {
    const match = /session=([^:;]+):([a-z]+):([^;]+)/.exec(request.headers.cookie ?? '');
    return Promise.resolve(
      match === null
        ? undefined
        : { staffId: match[1], role: match[2] as StaffSessionCaller['role'], practiceId: match[3] },
    );
  };

  before(async () => {
    const audit = createAuditLog(db.pool);
    for (const day of [3, 1, 2, 9]) await audit.append(event(day));
    await audit.append(event(4, { patientId: 'P2' }));
    await audit.append(event(5, { practiceId: 'other-practice', workflowId: undefined }));
    const deps = testApiDeps({ pool: db.pool, staffSession });
    ({ app } = await buildApp(deps));
    await app.ready();
  });
  after(async () => {
    await app?.close();
  });

  const get = (query: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url: `/v1/audit/export${query}`, headers });

  it('answers 401 to anonymous callers and to tokens of other roles, 403 to providers and staff', async () => {
    assert.equal((await get('')).statusCode, 401);
    for (const token of [TEST_TOKENS.ingest, TEST_TOKENS.ops, 'guess'])
      assert.equal((await get('', { authorization: `Bearer ${token}` })).statusCode, 401, token);
    for (const role of ['provider', 'staff'] as const) {
      const response = await get('', session(role));
      assert.equal(response.statusCode, 403, role);
      assert.match(response.body, new RegExp(`role ${role} may not export the audit log`));
    }
    // Nothing was exported, so nothing was audited as an export.
    assert.equal((await exportEvents(db.pool)).length, 0);
  });

  it('streams NDJSON as an attachment, filtered by range, and audits the export with the caller', async () => {
    const response = await get('?format=ndjson&from=2026-03-02&to=2026-03-09', ADMIN);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.headers['content-type'], 'application/x-ndjson; charset=utf-8');
    assert.match(
      String(response.headers['content-disposition']),
      /^attachment; filename="labloop-audit-[0-9TZ-]+\.ndjson"$/,
    );
    assert.equal(response.headers['cache-control'], 'no-store');
    assert.equal(response.headers['content-length'], undefined, 'streamed, not buffered');
    const rows = lines(response.body);
    assert.deepEqual(
      rows.map((r) => r.occurred_at),
      ['02', '03', '04', '05'].map((d) => `2026-03-${d}T12:00:00.000Z`),
    );
    assert.ok(rows.every((r) => typeof r.row_hash === 'string'));

    const events = await exportEvents(db.pool);
    assert.deepEqual(
      events.map((e) => [e.actor_type, e.actor_id, e.outcome]),
      [
        ['system', 'admin-token:admin-client', 'started'],
        ['system', 'admin-token:admin-client', 'completed'],
      ],
    );
    assert.equal(events[0]?.details.from, '2026-03-02T00:00:00.000Z');
    assert.equal(events[1]?.details.rows, 4);
  });

  it('exports CSV with its header row, filtered by patient within a practice', async () => {
    // Empty fields (as an HTML form sends them) mean "no filter".
    const response = await get('?format=csv&practiceId=195900&patientId=P1&from=&to=', ADMIN);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.headers['content-type'], 'text/csv; charset=utf-8; header=present');
    assert.match(String(response.headers['content-disposition']), /^attachment; filename=".+\.csv"$/);
    const records = response.body.split('\r\n').filter((l) => l !== '');
    assert.equal(records[0], AUDIT_CSV_HEADER.join(','));
    assert.match(records.at(-1) ?? '', /^#audit_chain_head,seq=\d+,row_hash=[0-9a-f]{64},anchored_at=/);
    const patientColumn = AUDIT_CSV_HEADER.indexOf('patient_id');
    const dataRows = records.slice(1, -1).map((r) => r.split(','));
    assert.equal(dataRows.length, 4, 'days 1, 2, 3 and 9 belong to P1 at 195900');
    assert.ok(dataRows.every((r) => r[patientColumn] === 'P1'));
  });

  it("reads calendar-day bounds in the time zone given (the review app's form sends the practice's)", async () => {
    // Midnight of 2026-03-03 on Kiritimati (UTC+14) is 10:00 UTC on 2026-03-02, and the day ends at
    // 10:00 UTC on 2026-03-03: day 2's noon-UTC row is in that day, day 3's is not.
    const inZone = lines(
      (await get('?format=ndjson&from=2026-03-03&to=2026-03-04&timeZone=Pacific/Kiritimati', ADMIN)).body,
    );
    assert.deepEqual(
      inZone.map((r) => r.occurred_at),
      ['2026-03-02T12:00:00.000Z'],
    );
    const inUtc = lines((await get('?format=ndjson&from=2026-03-03&to=2026-03-04', ADMIN)).body);
    assert.deepEqual(
      inUtc.map((r) => r.occurred_at),
      ['2026-03-03T12:00:00.000Z'],
    );
  });

  it('names what is wrong with a bad query', async () => {
    const cases: [string, RegExp][] = [
      ['?timeZone=Mars/Olympus', /timeZone: must be an IANA time zone/],
      ['?patientId=P1', /practiceId: required with patientId/],
      ['?from=yesterday', /from must be YYYY-MM-DD/],
      ['?from=2026-03-05&to=2026-03-01', /to: must be after from/],
      ['?format=xml', /format: must be ndjson or csv/],
      ['?practiceId=a%20b', /practiceId: must be an identifier/],
    ];
    for (const [query, message] of cases) {
      const response = await get(query, ADMIN);
      assert.equal(response.statusCode, 400, query);
      assert.match(response.json<{ message: string }>().message, message, query);
    }
  });

  it("limits a signed-in administrator to their own practice's trail", async () => {
    const own = await get('?format=ndjson', session('administrator'));
    assert.equal(own.statusCode, 200, own.body);
    const rows = lines(own.body);
    assert.ok(rows.length >= 5);
    assert.ok(
      rows.every((r) => r.practice_id === '195900'),
      'no row of another practice',
    );
    const other = await get('?practiceId=other-practice', session('administrator'));
    assert.equal(other.statusCode, 403);
    assert.match(other.body, /own practice only/);
    const events = await exportEvents(db.pool);
    assert.deepEqual(events.at(-1)?.actor_id, 'admin-1');
    assert.deepEqual(events.at(-1)?.actor_type, 'staff');
  });
});

/** The first page of an export reaches the client in milliseconds; 5 s means it is being held back. */
const FIRST_PAGE_WAIT_MS = 5_000;

async function within<T>(ms: number, promise: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('audit export endpoint streaming', () => {
  before(async () => {
    // More than one page, so a second page query must happen after the first page was sent.
    const rows = DEFAULT_EXPORT_BATCH_SIZE + 20;
    await streamDb.pool.query(
      `DO $$
       DECLARE prev TEXT := repeat('0', 64); h TEXT;
       BEGIN
         FOR i IN 1..${rows} LOOP
           h := encode(sha256(convert_to(prev || i::text, 'UTF8')), 'hex');
           INSERT INTO audit_log (seq, occurred_at, practice_id, patient_id, actor_type, actor_id, action, outcome, prev_hash, row_hash)
           VALUES (i, timestamptz '2026-03-01T00:00:00Z' + make_interval(secs => i), '195900', 'P1', 'system', 'seed', 'send', 'sent', prev, h);
           prev := h;
         END LOOP;
       END $$`,
    );
  });

  async function serve(pool: Pool) {
    const deps = testApiDeps({ pool });
    const { app } = await buildApp(deps);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    return {
      url,
      close: async () => {
        const closing = app.close();
        // fetch may leave a spare keep-alive socket that never sent a request; don't wait 72 s for it.
        app.server.closeAllConnections();
        await closing;
      },
    };
  }

  it('sends the first page before the next one is read from the database', async () => {
    const gated = gatedPool(streamDb.pool);
    const server = await serve(gated.pool);
    try {
      const response = await within(
        FIRST_PAGE_WAIT_MS,
        fetch(`${server.url}/v1/audit/export?format=ndjson`, { headers: ADMIN }),
        'the response did not start',
      );
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('transfer-encoding'), 'chunked');
      const reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
      let received = '';
      while (received.split('\n').length - 1 < DEFAULT_EXPORT_BATCH_SIZE) {
        // A buffering implementation would hold everything back until the gate opens: fail, don't hang.
        const { value, done } = await within(FIRST_PAGE_WAIT_MS, reader.read(), 'the first page did not arrive');
        assert.ok(!done, 'the stream must not end while the second page is held');
        received += Buffer.from(value).toString('utf8');
      }
      // The whole first page is here, the second page's query is waiting, and the export is unfinished.
      assert.equal(gated.pageQueries(), 2);
      assert.deepEqual(
        (await exportEvents(streamDb.pool)).map((e) => e.outcome),
        ['started'],
      );
      gated.release();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        received += Buffer.from(value).toString('utf8');
      }
      assert.equal(lines(received).length, DEFAULT_EXPORT_BATCH_SIZE + 20);
      assert.deepEqual(
        (await exportEvents(streamDb.pool)).map((e) => e.outcome),
        ['started', 'completed'],
      );
    } finally {
      gated.release();
      await server.close();
    }
  });

  it("records an 'aborted' export when the client goes away mid-stream", async () => {
    const gated = gatedPool(streamDb.pool);
    const server = await serve(gated.pool);
    const earlier = (await exportEvents(streamDb.pool)).length;
    try {
      const controller = new AbortController();
      const response = await fetch(`${server.url}/v1/audit/export?format=csv`, {
        headers: ADMIN,
        signal: controller.signal,
      });
      const reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
      await reader.read();
      controller.abort();
      // Let the server notice the closed socket before the next page comes back.
      await new Promise((resolve) => setTimeout(resolve, 100));
      gated.release();
      let outcomes: string[] = [];
      for (let i = 0; i < 50; i++) {
        outcomes = (await exportEvents(streamDb.pool)).slice(earlier).map((e) => e.outcome);
        if (outcomes.length === 2) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual(outcomes, ['started', 'aborted']);
    } finally {
      gated.release();
      await server.close();
    }
  });
});
