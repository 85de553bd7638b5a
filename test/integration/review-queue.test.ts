import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import type { ReviewItem } from '../../domain/activity-contract';
import { createReviewItemActivities, INVALID_REVIEW_ITEM_ERROR } from '../../activities/review-items';
import { buildApp } from '../../api/app';
import { loadPracticeRegistry } from '../../lib/practices';
import { completeCallTaskAndSignal, listOpenCallTasks } from '../../lib/review/call-tasks';
import { listQueue } from '../../lib/review/queue';
import { describeDeadline, formatDuration } from '../../lib/review/time-left';
import { WORKFLOW_STATES, type WorkflowState } from '../../workflows/definitions';
import { testApiDeps } from '../support/api-app';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { CookieJar, jarFetch } from '../support/oidc';

/**
 * The review queue's read model and the queue page: upsertReviewItem keeps the newest snapshot
 * whatever order retries deliver them in; the queue pins criticals, orders by deadline, scopes to
 * the provider; the page shows badges with words and time left in the practice's zone.
 */

const practices = loadPracticeRegistry('config/practices.sandbox.json');
const practice = practices.policy('195900')!;
const NOW = new Date('2026-11-24T15:00:00Z'); // Tuesday 10:00 in New York
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000).toISOString();

let counter = 0;
function item(overrides: Partial<ReviewItem> = {}): ReviewItem {
  counter += 1;
  return {
    workflowId: `lab-result-195900-${randomBytes(10).toString('hex')}`,
    practiceId: '195900',
    patientId: `MRN${counter}`,
    patientName: `Patient ${counter}`,
    panelName: `Panel ${counter}`,
    orderingProviderId: 'prov-1',
    acuity: 'normal',
    resultStatus: 'final',
    state: 'awaiting-sign-off',
    signed: false,
    receivedAt: minutes(-60),
    slaDeadline: minutes(120),
    escalationLevel: 0,
    version: 1,
    ...overrides,
  };
}

describe('review queue read model and page', () => {
  /** workflow ID → the name of the seeded row, for readable assertions on order. */
  const seeded: Record<string, string> = {};
  let db: TestDatabase;
  let upsert: (i: ReviewItem) => Promise<void>;

  before(async () => {
    db = await createTestDatabase('review_queue');
    upsert = createReviewItemActivities({ pool: db.pool }).upsertReviewItem;
  });
  after(async () => {
    await db?.close();
  });

  const stored = async (workflowId: string) =>
    (
      await db.pool.query<{ state: string; version: number; signed: boolean; escalation_level: number }>(
        `SELECT state, version, signed, escalation_level FROM review_item WHERE workflow_id = $1`,
        [workflowId],
      )
    ).rows[0];

  describe('upsertReviewItem', () => {
    it('ignores an older version and an older state of the same version, and re-applies an equal one', async () => {
      const first = item();
      await upsert(first);
      await upsert({ ...first, state: 'escalated', escalationLevel: 1 });
      await upsert(first); // a late retry of the first snapshot
      assert.deepEqual(await stored(first.workflowId), {
        state: 'escalated',
        version: 1,
        signed: false,
        escalation_level: 1,
      });

      // A correction (version 2) legitimately goes back to awaiting sign-off.
      await upsert({ ...first, version: 2, state: 'awaiting-sign-off', escalationLevel: 0 });
      await upsert({ ...first, version: 1, state: 'notified', signed: true });
      assert.deepEqual(await stored(first.workflowId), {
        state: 'awaiting-sign-off',
        version: 2,
        signed: false,
        escalation_level: 0,
      });

      await upsert({
        ...first,
        version: 2,
        state: 'notifying',
        signed: true,
        signedBy: 'prov-1',
        signedAt: minutes(0),
      });
      await upsert({
        ...first,
        version: 2,
        state: 'notifying',
        signed: true,
        signedBy: 'prov-1',
        signedAt: minutes(0),
      });
      assert.deepEqual(await stored(first.workflowId), {
        state: 'notifying',
        version: 2,
        signed: true,
        escalation_level: 0,
      });
    });

    it('orders snapshots of one version by their snapshot time when the workflow sends it', async () => {
      const base = item({ state: 'notified', signed: true, updatedAt: minutes(10) });
      await upsert(base);
      // Later in workflow time, even though "fallback" ranks below "notified".
      await upsert({ ...base, state: 'fallback', updatedAt: minutes(11) });
      await upsert({ ...base, state: 'closed', updatedAt: minutes(5) });
      assert.equal((await stored(base.workflowId))?.state, 'fallback');
    });

    it('converges on the newest snapshot whatever order retries deliver them in (property)', async () => {
      const progression: WorkflowState[] = [
        'awaiting-sign-off',
        'escalated',
        'escalated',
        'notifying',
        'notified',
        'closed',
      ];
      await fc.assert(
        fc.asyncProperty(
          fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 6, maxLength: 6 }),
          fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }),
          fc.boolean(),
          async (order, duplicates, withTimes) => {
            const seed = item();
            const snapshots = progression.map((state, i) => ({
              ...seed,
              state,
              escalationLevel: Math.min(i, 2),
              signed: i >= 3,
              ...(withTimes ? { updatedAt: minutes(i) } : {}),
            }));
            for (const index of [...order, ...duplicates]) await upsert(snapshots[index]);
            const final = await stored(seed.workflowId);
            assert.equal(final?.state, 'closed');
            assert.equal(final?.signed, true);
          },
        ),
        { numRuns: 30 },
      );
    });

    it('refuses a malformed snapshot for good, naming the field', async () => {
      await assert.rejects(
        upsert({ ...item(), state: 'sleeping' as WorkflowState, receivedAt: 'yesterday' }),
        (err: unknown) =>
          err instanceof ApplicationFailure &&
          err.nonRetryable &&
          err.type === INVALID_REVIEW_ITEM_ERROR &&
          /state/.test(err.message) &&
          /receivedAt/.test(err.message),
      );
      assert.equal(WORKFLOW_STATES.includes('closed'), true);
    });
  });

  describe('listQueue', () => {
    before(async () => {
      await db.pool.query('DELETE FROM review_item');
      const rows: Record<string, ReviewItem> = {
        normalLate: item({ slaDeadline: minutes(200), receivedAt: minutes(-30) }),
        abnormalSoon: item({ acuity: 'abnormal', slaDeadline: minutes(20) }),
        criticalLate: item({
          acuity: 'critical',
          slaDeadline: minutes(500),
          criticalPagedAt: minutes(-5),
          orderingProviderId: 'prov-2',
        }),
        noDeadline: item({ slaDeadline: undefined, receivedAt: minutes(-300) }),
        overdueByNpi: item({ slaDeadline: minutes(-35), orderingProviderId: '1234567890' }),
        otherProvider: item({ orderingProviderId: 'prov-2', slaDeadline: minutes(60) }),
        escalatedOther: item({
          orderingProviderId: 'prov-2',
          state: 'escalated',
          escalationLevel: 1,
          slaDeadline: minutes(-90),
        }),
        unknownProvider: item({ orderingProviderId: '9999999999', slaDeadline: minutes(90) }),
        signed: item({ signed: true, state: 'notifying', slaDeadline: minutes(1) }),
        closed: item({ state: 'closed', slaDeadline: minutes(2) }),
        cancelled: item({ resultStatus: 'cancelled', slaDeadline: minutes(3) }),
        otherPractice: item({ practiceId: 'other-practice', slaDeadline: minutes(4) }),
      };
      for (const [name, row] of Object.entries(rows)) {
        seeded[row.workflowId] = name;
        await upsert(row);
      }
    });

    const names = (items: { workflowId: string }[]) => items.map((i) => seeded[i.workflowId]);
    const viewer = (id: string) => practice.staff.find((s) => s.id === id)!;

    it("pins criticals, then the earliest deadline; no deadline last; nothing signed, closed, cancelled or another practice's", async () => {
      const all = await listQueue(db.pool, { practice, scope: 'practice', viewer: viewer('staff-1') });
      assert.deepEqual(names(all), [
        'criticalLate',
        'escalatedOther',
        'overdueByNpi',
        'abnormalSoon',
        'otherProvider',
        'unknownProvider',
        'normalLate',
        'noDeadline',
      ]);
    });

    it("gives a provider the results they ordered (by staff ID or NPI), not a colleague's", async () => {
      const mine = await listQueue(db.pool, { practice, scope: 'mine', viewer: viewer('prov-1') });
      assert.deepEqual(names(mine), ['overdueByNpi', 'abnormalSoon', 'normalLate', 'noDeadline']);
    });

    it('gives the on-call provider escalations, paged criticals and results nobody in the practice ordered', async () => {
      const onCall = await listQueue(db.pool, { practice, scope: 'mine', viewer: viewer('prov-oncall') });
      assert.deepEqual(names(onCall), ['criticalLate', 'escalatedOther', 'unknownProvider']);
    });
  });

  describe('time left', () => {
    it('says it the way people do, in the practice zone', () => {
      assert.equal(formatDuration(45 * 60_000), '45 min');
      assert.equal(formatDuration(80 * 60_000), '1 h 20 min');
      assert.equal(formatDuration(27 * 3_600_000), '1 d 3 h');
      assert.equal(formatDuration(20_000), 'under 1 min');
      const due = describeDeadline(new Date(minutes(50)), NOW, 'America/New_York');
      assert.deepEqual(
        { text: due?.text, overdue: due?.overdue, dueSoon: due?.dueSoon, local: due?.local },
        { text: '50 min left', overdue: false, dueSoon: true, local: 'Tue 24 Nov 10:50 EST' },
      );
      const late = describeDeadline(new Date(minutes(-35)), NOW, 'America/Los_Angeles');
      assert.equal(late?.text, 'Overdue by 35 min');
      assert.equal(late?.local, 'Tue 24 Nov 06:25 PST');
    });
  });

  describe('the queue page', () => {
    let app: FastifyInstance;
    let base: string;
    before(async () => {
      const deps = testApiDeps({
        pool: db.pool,
        practices,
        now: () => NOW,
        review: {
          sessionSecret: 'queue-test-session-secret-0123456789',
          idleMinutes: 15,
          secureCookies: false,
          demoLogin: true,
        },
      });
      ({ app } = await buildApp(deps));
      base = await app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(async () => {
      await app?.close();
    });

    async function demoSignIn(staff: string): Promise<CookieJar> {
      const jar = new CookieJar();
      const login = await jarFetch(jar, `${base}/review/login`);
      const html = await login.text();
      assert.match(html, /<label for="demo-staff">Staff member<\/label>/);
      const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
      const signedIn = await jarFetch(jar, `${base}/review/auth/demo`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: token, staff, next: '/review/queue' }).toString(),
      });
      assert.equal(signedIn.status, 303);
      return jar;
    }

    it('lists the rows in queue order with text badges and time left computed on the server', async () => {
      const jar = await demoSignIn('195900/prov-oncall');
      const page = await jarFetch(jar, `${base}/review/queue`);
      assert.equal(page.status, 200);
      const html = await page.text();
      const order = [...html.matchAll(/data-workflow-id="([^"]+)"/g)].map((m) => seeded[m[1] ?? '']);
      assert.deepEqual(order, ['criticalLate', 'escalatedOther', 'unknownProvider']);
      assert.match(html, /<span class="badge badge-critical">Critical<\/span>/);
      assert.match(html, /Overdue by 1 h 30 min/);
      assert.match(html, /Escalated to on-call/);
      // Escalated and past its deadline: the workflow keeps paging (issue 13 §4), and the row says so.
      assert.equal([...html.matchAll(/Overdue: paging until signed/g)].length, 1);
      assert.match(html, /Due <time datetime="[^"]+">Tue 24 Nov 11:30 EST<\/time>/);
      assert.match(html, /3 unsigned results, 1 critical\. Times are America\/New_York/);

      const practiceWide = await (await jarFetch(jar, `${base}/review/queue?scope=practice`)).text();
      assert.equal([...practiceWide.matchAll(/data-workflow-id=/g)].length, 8);
      assert.match(practiceWide, /aria-current="page">All practice results</);
    });

    /** The phi-access rows of one list view, newest view first. */
    const listViews = async (view: string, actor: string) =>
      (
        await db.pool.query<{
          actor_type: string;
          details: { workflowIds: string[]; patientIds: string[]; scope?: string };
        }>(
          `SELECT actor_type, details FROM audit_log
            WHERE action = 'phi-access' AND outcome = 'viewed' AND details->>'view' = $1 AND actor_id = $2
            ORDER BY seq`,
          [view, actor],
        )
      ).rows;

    it('audits opening the queue as phi-access naming every result and patient shown', async () => {
      const before = (await listViews('review-queue', 'prov-oncall')).length;
      const jar = await demoSignIn('195900/prov-oncall');
      const html = await (await jarFetch(jar, `${base}/review/queue?scope=practice`)).text();
      const shown = [...html.matchAll(/data-workflow-id="([^"]+)"/g)].map((m) => m[1] ?? '');
      assert.equal(shown.length, 8);
      const rows = (await listViews('review-queue', 'prov-oncall')).slice(before);
      assert.equal(rows.length, 1, 'one view, one row');
      assert.equal(rows[0]?.actor_type, 'provider');
      assert.equal(rows[0]?.details.scope, 'practice');
      assert.deepEqual([...(rows[0]?.details.workflowIds ?? [])].sort(), [...shown].sort());
      const patients = await db.pool.query<{ patient_id: string }>(
        `SELECT patient_id FROM review_item WHERE workflow_id = ANY($1)`,
        [shown],
      );
      assert.deepEqual([...(rows[0]?.details.patientIds ?? [])].sort(), patients.rows.map((r) => r.patient_id).sort());
    });

    it('audits opening the call list as phi-access naming the results and patients to call', async () => {
      const shownItem = item({ acuity: 'critical' });
      await upsert(shownItem);
      await db.pool.query(
        `INSERT INTO call_task (id, idempotency_key, workflow_id, practice_id, patient_id, reason, priority, created_at)
         VALUES ('ct_audited', 'k-audited', $1, '195900', $2, 'critical-result', 'urgent', now())`,
        [shownItem.workflowId, shownItem.patientId],
      );
      const jar = await demoSignIn('195900/staff-1');
      const page = await jarFetch(jar, `${base}/review/calls`);
      assert.equal(page.status, 200);
      const rows = await listViews('call-list', 'staff-1');
      const last = rows.at(-1);
      assert.equal(last?.actor_type, 'staff');
      assert.ok(last?.details.workflowIds.includes(shownItem.workflowId), 'the task shown is named');
      assert.ok(last?.details.patientIds.includes(shownItem.patientId));
      await db.pool.query(`DELETE FROM call_task WHERE id = 'ct_audited'`);
      await db.pool.query(`DELETE FROM review_item WHERE workflow_id = $1`, [shownItem.workflowId]);
    });

    it('shows staff the practice queue without a "mine" filter', async () => {
      const jar = await demoSignIn('195900/staff-1');
      const html = await (await jarFetch(jar, `${base}/review/queue?scope=mine`)).text();
      assert.equal([...html.matchAll(/data-workflow-id=/g)].length, 8);
      assert.doesNotMatch(html, /My results/);
    });
  });
  describe('call tasks', () => {
    it('lists open tasks with the name and number to call, urgent first', async () => {
      const critical = item({ acuity: 'critical', patientName: 'Rosa Alvarez', panelName: 'Potassium' });
      await upsert(critical);
      await db.pool.query(
        `INSERT INTO workflow_patient (workflow_id, practice_id, patient_id, phone_e164) VALUES ($1, '195900', $2, '+16175550143')`,
        [critical.workflowId, critical.patientId],
      );
      await db.pool.query(
        `INSERT INTO call_task (id, idempotency_key, workflow_id, practice_id, patient_id, reason, priority, created_at)
         VALUES ('ct_normal', 'k-normal', $1, '195900', $2, 'abnormal-unread', 'normal', now() - interval '2 hours'),
                ('ct_urgent', 'k-urgent', $1, '195900', $2, 'critical-result', 'urgent', now()),
                ('ct_other', 'k-other', $1, 'other-practice', $2, 'critical-result', 'urgent', now())`,
        [critical.workflowId, critical.patientId],
      );
      const tasks = await listOpenCallTasks(db.pool, '195900');
      assert.deepEqual(
        tasks.map((t) => [t.id, t.patientName, t.phone, t.acuity]),
        [
          ['ct_urgent', 'Rosa Alvarez', '+16175550143', 'critical'],
          ['ct_normal', 'Rosa Alvarez', '+16175550143', 'critical'],
        ],
      );
    });

    it('keeps a task open when the workflow cannot be signalled, and closes it once with the signal', async () => {
      const input = { taskId: 'ct_urgent', practiceId: '195900', staffId: 'staff-1', outcome: 'reached' as const };
      await assert.rejects(
        completeCallTaskAndSignal(db.pool, input, () => Promise.reject(new Error('Temporal unreachable'))),
        /Temporal unreachable/,
      );
      const status = async () =>
        (await db.pool.query<{ status: string }>(`SELECT status FROM call_task WHERE id = 'ct_urgent'`)).rows[0]
          ?.status;
      assert.equal(await status(), 'open', 'rolled back: still on the list to retry');

      const signalled: string[] = [];
      const record = (workflowId: string) => {
        signalled.push(workflowId);
        return Promise.resolve();
      };
      const done = await completeCallTaskAndSignal(db.pool, input, record);
      assert.equal(done.kind, 'completed');
      assert.equal(await status(), 'completed');
      const again = await completeCallTaskAndSignal(db.pool, input, record);
      assert.equal(again.kind, 'already-closed');
      assert.equal(signalled.length, 1, 'a double submit does not signal twice');
      const foreign = await completeCallTaskAndSignal(db.pool, { ...input, taskId: 'ct_other' }, record);
      assert.equal(foreign.kind, 'not-found', "another practice's task is not found");
    });
  });
});
