import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import pg from 'pg';
import { MockActivityEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import type { AthenaIngestActivities, AthenaIngestOutcome } from '../../domain/athena-ingest-contract';
import { workflowIdForResult } from '../../lib/ingest/handoff';
import { ATHENA_RESULT_ID_ISSUER } from '../../lib/result-ref';
import { createFeedCheckpointStore, ensureAthenaFeeds, ensureAthenaFeedSchedule } from '../../lib/athena-feed';
import type { AthenaClient } from '../../lib/clients/athena';
import { startAthenaFake, type AthenaFake } from '../../sandbox/fakes/athena';
import {
  ATHENA_FEED_POLL_WORKFLOW_TYPE,
  athenaFeedScheduleId,
  type AthenaFeedPollSummary,
} from '../../workflows/definitions';
import {
  ATHENA_CLIENT_ID,
  ATHENA_CLIENT_SECRET,
  athenaIngestActivitiesFor,
  athenaTestClient,
  eventually,
  ingestRows,
  isolatedPracticeRegistry,
  signalCount,
  startIngestHarness,
  workflowExists,
  type IngestHarness,
} from './ingest-harness';

/**
 * The changed-data feed poller on a real Temporal dev server: poll workflows (as the Schedule starts
 * them) read athena's destructive feed, hand every record off, and only then move the checkpoint.
 * A crash between the read and the hand-off, or a feed response lost in transit, still delivers the
 * result on the next attempt, exactly once.
 */

void describe('athena changed-data feed poller', () => {
  let h: IngestHarness;
  let fake: AthenaFake;
  let athena: AthenaClient;
  let patientId: string;
  /** When set, the next ingest fails for good before handing off: a crash after the feed was read. */
  let crashNextIngest = false;
  // A practice of this test's own, so its schedule and feed meet nobody else's on a shared server.
  const athenaPracticeId = String(700_000 + Math.floor(Math.random() * 99_999));
  const practiceId = `poll-${randomBytes(3).toString('hex')}`;

  before(async () => {
    fake = await startAthenaFake({
      clientId: ATHENA_CLIENT_ID,
      clientSecret: ATHENA_CLIENT_SECRET,
      practiceIds: [athenaPracticeId],
    });
    athena = athenaTestClient(fake.url);
    h = await startIngestHarness({
      label: 'athena_ingest_poller',
      practices: isolatedPracticeRegistry(practiceId, athenaPracticeId),
      extraActivities: (base) => {
        const real = athenaIngestActivitiesFor(base, athena);
        const wrapped: AthenaIngestActivities = {
          ...real,
          ingestAthenaLabResult: (request) => {
            if (crashNextIngest) {
              crashNextIngest = false;
              throw ApplicationFailure.nonRetryable(
                'simulated crash between reading the feed and handing off',
                'SimulatedCrash',
              );
            }
            return real.ingestAthenaLabResult(request);
          },
        };
        return wrapped;
      },
    });
    await athena.subscribeLabResultChanges({ practiceId: athenaPracticeId });
    patientId = fake.control.addPatient({
      practiceId: athenaPracticeId,
      firstName: 'Ray',
      lastName: 'Okafor',
      dob: '1975-06-30',
    }).patientId;
  });
  after(async () => {
    await h?.client.schedule
      .getHandle(athenaFeedScheduleId(practiceId))
      .delete()
      .catch(() => undefined);
    await fake?.close();
    await h?.close();
  });

  const addResult = () =>
    fake.control.addLabResult({
      practiceId: athenaPracticeId,
      patientId,
      resultstatus: 'Final',
      description: 'Lipid panel',
      analytes: [{ analytename: 'LDL', value: '96', units: 'mg/dL', referencerange: '<100' }],
    }).labResultId;
  const workflowIdOf = (labResultId: string) =>
    workflowIdForResult(h.idSecret, { practiceId, issuer: ATHENA_RESULT_ID_ISSUER, resultId: labResultId });
  const poll = () =>
    h.client.workflow.execute(ATHENA_FEED_POLL_WORKFLOW_TYPE, {
      taskQueue: h.taskQueue,
      workflowId: `athena-feed-poll-test-${randomUUID()}`,
      args: [{ practiceId }],
    }) as Promise<AthenaFeedPollSummary>;
  const unprocessedIds = async () =>
    (await athena.listChangedLabResults({ practiceId: athenaPracticeId, leaveUnprocessed: true })).labResults.map(
      (r) => r.labresultid,
    );
  const ingestRowsFor = async (labResultId: string) =>
    (await ingestRows(h)).filter((r) => r.source === 'athena' && r.workflow_ids.includes(workflowIdOf(labResultId)));

  void it('a poll hands each changed result to its workflow and then moves the checkpoint', async () => {
    const labResultId = addResult();
    const summary = await poll();
    assert.equal(summary.handedOff, 1);
    assert.equal(await workflowExists(h.client, workflowIdOf(labResultId)), true);
    assert.deepEqual(await unprocessedIds(), [], 'the destructive read marked it processed');
    const checkpoint = await createFeedCheckpointStore(h.db.pool).get(practiceId);
    assert.ok(checkpoint !== undefined);
    assert.equal(checkpoint.toISOString(), summary.polledThrough);

    // The next poll re-reads the recent window (the double check) and recognises what it already delivered.
    const next = await poll();
    assert.equal(next.handedOff, 0);
    assert.equal(await signalCount(h.client, workflowIdOf(labResultId)), 1);
  });

  void it('a crash between the destructive read and the hand-off loses nothing: the next poll delivers it exactly once', async () => {
    const checkpoints = createFeedCheckpointStore(h.db.pool);
    const labResultId = addResult();
    const checkpointBefore = await checkpoints.get(practiceId);
    crashNextIngest = true;
    await assert.rejects(poll(), (err: unknown) => err instanceof WorkflowFailedError);
    // athena considers the record delivered (destructive read) ...
    assert.ok(!(await unprocessedIds()).includes(labResultId));
    // ... but nothing reached Temporal and the checkpoint did not move.
    assert.equal(await workflowExists(h.client, workflowIdOf(labResultId)), false);
    assert.equal((await checkpoints.get(practiceId))?.toISOString(), checkpointBefore?.toISOString());
    assert.deepEqual(await ingestRowsFor(labResultId), []);

    const recovered = await poll();
    assert.ok(recovered.handedOff >= 1);
    const workflowId = workflowIdOf(labResultId);
    assert.equal(await workflowExists(h.client, workflowId), true);
    assert.equal(await signalCount(h.client, workflowId), 1);

    await poll();
    assert.equal(await signalCount(h.client, workflowId), 1, 'one workflow, one delivery');
    assert.deepEqual(
      (await ingestRowsFor(labResultId)).map((r) => r.status),
      ['handed-off'],
    );
  });

  void it('a feed response lost in transit (processed by athena, 500 to us) is recovered by the refetch window, once', async () => {
    const labResultId = addResult();
    fake.control.failNext(1, { when: 'after', method: 'GET', pathIncludes: '/labresults/changed', status: 500 });
    const summary = await poll();
    assert.ok(summary.handedOff >= 1);
    const lost = fake.control.requests().filter((r) => r.path.includes('/labresults/changed') && r.status === 500);
    assert.equal(lost.length, 1, 'the destructive read failed after athena processed it');
    const workflowId = workflowIdOf(labResultId);
    assert.equal(await workflowExists(h.client, workflowId), true);
    assert.equal(await signalCount(h.client, workflowId), 1);
  });

  void it('sign-off in athena reaches the running workflow through the feed', async () => {
    const labResultId = addResult();
    await poll();
    fake.control.signOff(labResultId, '71');
    const summary = await poll();
    assert.equal(summary.handedOff, 1);
    assert.equal(await signalCount(h.client, workflowIdOf(labResultId)), 2);
  });

  void it('many results ingested at once on a small pool finish (each lock holder uses only its own connection)', async () => {
    const small = new pg.Pool({ connectionString: h.db.url, max: 2 });
    try {
      const activities = athenaIngestActivitiesFor(h, athena, { pool: small, temporal: () => h.client });
      const ids = Array.from({ length: 8 }, () => addResult());
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('ingests stalled: pool exhausted')), 15_000);
      });
      const outcomes = await Promise.race([
        Promise.all(
          ids.map((labResultId) =>
            activities.ingestAthenaLabResult({ practiceId, labResultId, patientId, trigger: 'replay' }),
          ),
        ),
        timeout,
      ]).finally(() => clearTimeout(timer));
      assert.deepEqual(
        outcomes.map((o) => o.kind),
        ids.map(() => 'handed-off'),
      );
    } finally {
      await small.end();
    }
  });

  void it('a document athena refuses for good is dead-lettered (named, kept for an operator), and a later success resolves it', async () => {
    const labResultId = addResult();
    fake.control.failNext(1, { status: 400, method: 'GET', pathIncludes: `/documents/labresult/${labResultId}` });
    const activities = athenaIngestActivitiesFor(h, athena, { temporal: () => h.client });
    const request = { practiceId, labResultId, patientId, trigger: 'feed' as const };
    // Outside a worker: the mock environment gives the activity its context (logger).
    const first: AthenaIngestOutcome = await new MockActivityEnvironment().run(
      (r: typeof request) => activities.ingestAthenaLabResult(r),
      request,
    );
    assert.equal(first.kind, 'dead-lettered');
    const open = async () =>
      (
        await h.db.pool.query<{ reason: string; resolved_at: Date | null }>(
          'SELECT reason, resolved_at FROM athena_ingest_dead_letter WHERE practice_id = $1 AND lab_result_id = $2',
          [practiceId, labResultId],
        )
      ).rows;
    const [entry] = await open();
    assert.match(entry?.reason ?? '', /getLabResult failed \(permanent, HTTP 400, request [0-9a-f-]{36}\)$/);
    assert.equal(entry?.resolved_at, null);
    assert.equal(await workflowExists(h.client, workflowIdOf(labResultId)), false);

    assert.equal((await activities.ingestAthenaLabResult(request)).kind, 'handed-off');
    assert.notEqual((await open())[0]?.resolved_at, null);
  });

  void it('the Schedule is created idempotently, polls on its own, and delivers', async () => {
    const created = await ensureAthenaFeeds({
      temporal: h.client,
      athena,
      practices: h.practices,
      taskQueue: h.taskQueue,
      intervalSeconds: 3600,
    });
    assert.deepEqual(created, [practiceId]);
    assert.equal(
      await ensureAthenaFeedSchedule(h.client, { practiceId, intervalSeconds: 2, taskQueue: h.taskQueue }),
      'updated',
    );
    const handle = h.client.schedule.getHandle(athenaFeedScheduleId(practiceId));
    const description = await handle.describe();
    assert.equal(description.action.taskQueue, h.taskQueue);
    assert.equal(description.policies.overlap, 'SKIP');
    assert.equal(description.spec.intervals?.[0]?.every, 2_000);

    const labResultId = addResult();
    await eventually(
      'the scheduled poll to deliver',
      async () => ((await workflowExists(h.client, workflowIdOf(labResultId))) ? true : undefined),
      20_000,
    );
    await handle.delete();
  });
});
