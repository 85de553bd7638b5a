import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { createAthenaIngestActivities, FEED_RECORD_WITHOUT_PATIENT } from '../../activities/athena-ingest';
import type { AthenaIngestActivities } from '../../domain/athena-ingest-contract';
import { workflowIdForResult } from '../../lib/ingest/handoff';
import { createFeedCheckpointStore, REFETCH_MARGIN_MS } from '../../lib/athena-feed';
import { createAuditLog } from '../../lib/audit';
import type { AthenaClient } from '../../lib/clients/athena';
import { ATHENA_RESULT_ID_ISSUER } from '../../lib/result-ref';
import { startAthenaFake, type AthenaFake } from '../../sandbox/fakes/athena';
import { ATHENA_FEED_POLL_WORKFLOW_TYPE, type AthenaFeedPollSummary } from '../../workflows/definitions';
import {
  ATHENA_CLIENT_ID,
  ATHENA_CLIENT_SECRET,
  athenaTestClient,
  isolatedPracticeRegistry,
  signalCount,
  startIngestHarness,
  workflowExists,
  type IngestHarness,
} from './ingest-harness';

/**
 * Two ways the changed-data feed could lose a result, on a real Temporal dev server with the athena
 * fake, whose clock (and so the activities' clock) the test moves:
 *  - the practice's first-ever poll reads destructively, fails before the hand-off, and the next
 *    successful poll runs well after the re-read margin: the first attempt left a checkpoint, so the
 *    next poll's re-read window still covers the batch;
 *  - a feed record without a patient ID cannot be read; it is dead-lettered and audited instead of
 *    being skipped while the checkpoint moves past it.
 */

void describe('athena changed-data feed: nothing lost', () => {
  let h: IngestHarness;
  let fake: AthenaFake;
  let athena: AthenaClient;
  let patientId: string;
  /** When set, the next ingest fails for good before handing off: a crash after the feed was read. */
  let crashNextIngest = false;
  /** Feed records of this lab result are returned without their patientid. */
  let strippedPatientOf: string | undefined;
  const athenaPracticeId = String(600_000 + Math.floor(Math.random() * 99_999));
  const practiceId = `feed-${randomBytes(3).toString('hex')}`;

  before(async () => {
    fake = await startAthenaFake({
      clientId: ATHENA_CLIENT_ID,
      clientSecret: ATHENA_CLIENT_SECRET,
      practiceIds: [athenaPracticeId],
    });
    athena = athenaTestClient(fake.url);
    const gateway: AthenaClient = {
      ...athena,
      async listChangedLabResults(args) {
        const page = await athena.listChangedLabResults(args);
        return {
          ...page,
          labResults: page.labResults.map((d) => {
            if (d.labresultid !== strippedPatientOf) return d;
            const { patientid: _dropped, ...rest } = d;
            return rest;
          }),
        };
      },
    };
    h = await startIngestHarness({
      label: 'athena_feed_safety',
      practices: isolatedPracticeRegistry(practiceId, athenaPracticeId),
      extraActivities: (base) => {
        const real = createAthenaIngestActivities({
          pool: base.db.pool,
          audit: createAuditLog(base.db.pool),
          athena: gateway,
          practices: base.practices,
          idSecret: base.idSecret,
          // The fake's clock, so moving it moves "now" for the poller too.
          now: () => fake.control.now(),
          labResultTaskQueue: base.taskQueue,
        });
        const wrapped: AthenaIngestActivities = {
          ...real,
          ingestAthenaLabResult: (request) => {
            if (crashNextIngest) {
              crashNextIngest = false;
              throw ApplicationFailure.nonRetryable('simulated crash before the hand-off', 'SimulatedCrash');
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
      firstName: 'Ines',
      lastName: 'Carvalho',
      dob: '1979-01-21',
    }).patientId;
  });
  after(async () => {
    await fake?.close();
    await h?.close();
  });

  const addResult = () =>
    fake.control.addLabResult({
      practiceId: athenaPracticeId,
      patientId,
      resultstatus: 'Final',
      description: 'TSH',
      analytes: [{ analytename: 'TSH', value: '2.1', units: 'mIU/L', referencerange: '0.4-4.0' }],
    }).labResultId;
  const workflowIdOf = (labResultId: string) =>
    workflowIdForResult(h.idSecret, { practiceId, issuer: ATHENA_RESULT_ID_ISSUER, resultId: labResultId });
  const poll = () =>
    h.client.workflow.execute(ATHENA_FEED_POLL_WORKFLOW_TYPE, {
      taskQueue: h.taskQueue,
      workflowId: `athena-feed-poll-test-${randomUUID()}`,
      args: [{ practiceId }],
    }) as Promise<AthenaFeedPollSummary>;

  void it('a failed first-ever poll leaves a checkpoint: the next poll, much later, still delivers its batch', async () => {
    const checkpoints = createFeedCheckpointStore(h.db.pool);
    assert.equal(await checkpoints.get(practiceId), undefined, 'this practice has never been polled');
    const labResultId = addResult();
    const firstAttempt = fake.control.now();
    crashNextIngest = true;
    await assert.rejects(poll(), (err: unknown) => err instanceof WorkflowFailedError);
    // athena marked it processed (destructive read); nothing reached Temporal.
    const unprocessed = await athena.listChangedLabResults({ practiceId: athenaPracticeId, leaveUnprocessed: true });
    assert.deepEqual(unprocessed.labResults, []);
    assert.equal(await workflowExists(h.client, workflowIdOf(labResultId)), false);
    const initial = await checkpoints.get(practiceId);
    assert.ok(initial !== undefined, 'the first attempt recorded where it started');
    assert.ok(Math.abs(initial.getTime() - firstAttempt.getTime()) < 5_000);

    // The next successful poll comes well after the re-read margin.
    fake.control.advanceTime(REFETCH_MARGIN_MS + 5 * 60_000);
    const summary = await poll();
    assert.equal(summary.handedOff, 1);
    assert.equal(await workflowExists(h.client, workflowIdOf(labResultId)), true);
    assert.equal(await signalCount(h.client, workflowIdOf(labResultId)), 1);
    assert.equal((await checkpoints.get(practiceId))?.toISOString(), summary.polledThrough);
  });

  void it('a feed record without a patientid is dead-lettered and audited, once, and the feed moves on', async () => {
    const labResultId = addResult();
    const delivered = addResult();
    strippedPatientOf = labResultId;
    try {
      const summary = await poll();
      assert.equal(summary.handedOff, 1, 'the record with a patient is delivered');
      assert.equal(await workflowExists(h.client, workflowIdOf(delivered)), true);
      // The re-read window of the next poll sees the same record again: no second audit.
      await poll();
    } finally {
      strippedPatientOf = undefined;
    }
    const { rows: letters } = await h.db.pool.query<{
      patient_id: string | null;
      reason: string;
      trigger: string;
      resolved_at: Date | null;
    }>(
      'SELECT patient_id, reason, trigger, resolved_at FROM athena_ingest_dead_letter WHERE practice_id = $1 AND lab_result_id = $2',
      [practiceId, labResultId],
    );
    assert.deepEqual(letters, [
      { patient_id: null, reason: FEED_RECORD_WITHOUT_PATIENT, trigger: 'feed', resolved_at: null },
    ]);
    const { rows: audits } = await h.db.pool.query<{ actor_type: string; outcome: string; details: unknown }>(
      `SELECT actor_type, outcome, details FROM audit_log WHERE practice_id = $1 AND action = 'ingest'`,
      [practiceId],
    );
    assert.deepEqual(audits, [
      {
        actor_type: 'source',
        outcome: 'dead-lettered',
        details: { labResultId, trigger: 'feed', reason: FEED_RECORD_WITHOUT_PATIENT },
      },
    ]);
    assert.equal(await workflowExists(h.client, workflowIdOf(labResultId)), false);
  });
});
