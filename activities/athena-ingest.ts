import { ApplicationFailure, Context, heartbeat, log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { LabResult } from '../domain/lab-result';
import { createHandoff } from '../api/ingest/handoff';
import { applyPracticeProviders } from '../api/ingest/provider-mapping';
import {
  createFeedCheckpointStore,
  planRefetchWindows,
  recordDeadLetter,
  resolveDeadLetter,
  withResultLock,
  type FeedCheckpointStore,
} from '../lib/athena-feed';
import {
  isAthenaError,
  mapAthenaLabResult,
  type AthenaClient,
  type AthenaLabResultDocument,
} from '../lib/clients/athena';
import type { PracticeEntry, PracticeRegistry } from '../lib/practices';
import type {
  AthenaIngestActivities,
  AthenaIngestOutcome,
  AthenaResultRef,
  IngestAthenaLabResultRequest,
} from './athena-ingest-contract';
import type { ActivityDeps } from './deps';
import { ActivityErrorType } from './error-types';

/**
 * Activities of the athena ingest workflows: read the changed-data feed, inflate one lab result
 * (document + patient) and hand it to its lab-result workflow through the same hand-off as HL7 and
 * FHIR, so every source lands on one workflow per result and every version is delivered once.
 *
 * Workflow identity: athena results are keyed by `labresultid` (what the client's mapping sets as
 * `resultId`). We deliberately do not key on `externalaccessionid`: one accession can cover several
 * athena documents (one per panel), and merging them would let one panel's version replace another's
 * in a single workflow. The same result arriving over HL7 therefore joins this workflow only when the
 * interface puts athena's lab-result ID in OBR-3 (filler order number); otherwise a practice should
 * feed a result stream through one source.
 */
/** The slice of the athena client the ingest activities use. */
export type AthenaIngestGateway = Pick<AthenaClient, 'getLabResult' | 'getPatient' | 'listChangedLabResults'>;

export interface AthenaIngestDeps {
  pool: Pool;
  athena: AthenaIngestGateway;
  practices: PracticeRegistry;
  /** HMAC key for result references in workflow IDs (the API's LABLOOP_ID_SECRET). */
  idSecret: string;
  now: () => Date;
  /** Client for signal-with-start; default: the worker's own client (same connection and codec). */
  temporal?: () => Client;
  /** Task queue of the lab-result workflows; default: the task queue this activity runs on (one worker runs both). */
  labResultTaskQueue?: string;
}

/** Page size for feed reads: well under athena's 1,500 default, so one page is one quick call. */
export const FEED_PAGE_SIZE = 200;
/** Destructive-read pages per poll (≤ 2,000 records); what is left stays unprocessed for the next poll. */
const MAX_DESTRUCTIVE_PAGES = 10;
/**
 * Records per poll before further refetch windows wait for the next poll (the first window is always
 * read whole, so the checkpoint always moves). Bounds a poll's history and run time.
 */
const MAX_REFS_PER_POLL = 2_000;
/**
 * Hand-off budget inside an activity: longer than the API's (no caller is waiting), shorter than the
 * 3-minute start-to-close timeout so a stuck Temporal call fails the attempt cleanly.
 */
const ACTIVITY_HANDOFF_DEADLINE_MS = 30_000;

export function createAthenaIngestActivities(deps: AthenaIngestDeps): AthenaIngestActivities {
  const checkpoints: FeedCheckpointStore = createFeedCheckpointStore(deps.pool);
  const temporal = deps.temporal ?? (() => Context.current().client);

  function practiceEntry(practiceId: string): PracticeEntry & { athenaPracticeId: string } {
    const entry = deps.practices.entry(practiceId);
    const athenaPracticeId = entry?.routing.athenaPracticeId;
    if (entry === undefined || athenaPracticeId === undefined) {
      throw ApplicationFailure.nonRetryable(
        `practice ${practiceId} is not configured for athena (no routing.athenaPracticeId)`,
        ActivityErrorType.CONFIGURATION,
      );
    }
    return { ...entry, athenaPracticeId };
  }

  async function deadLetter(
    db: Pick<Pool, 'query'>,
    request: IngestAthenaLabResultRequest,
    reason: string,
  ): Promise<AthenaIngestOutcome> {
    await recordDeadLetter(db, { ...request, reason });
    log.warn('athena result dead-lettered', { practiceId: request.practiceId, reason });
    return { kind: 'dead-lettered', reason };
  }

  return {
    async ingestAthenaLabResult(request) {
      const entry = practiceEntry(request.practiceId);
      const ref = {
        practiceId: entry.athenaPracticeId,
        patientId: request.patientId,
        labResultId: request.labResultId,
      };
      // Under the lock, the read and the hand-off happen in athena's order for this document.
      return withResultLock(deps.pool, `${request.practiceId}:${request.labResultId}`, async (db) => {
        let document: AthenaLabResultDocument;
        let result: LabResult;
        try {
          document = await deps.athena.getLabResult(ref);
          const patient = await deps.athena.getPatient(ref);
          result = mapAthenaLabResult({ practiceId: request.practiceId, document, patient });
        } catch (err) {
          if (isAthenaError(err)) {
            if (err.kind === 'not-found') return { kind: 'gone' };
            if (err.kind === 'permanent') return deadLetter(db, request, err.message);
            throw err; // auth, throttled, unavailable: Temporal retries
          }
          // The mapping refuses a document and patient that do not belong together.
          return deadLetter(db, request, err instanceof Error ? err.message : 'the document could not be mapped');
        }
        const mapped = withPracticeProviders(result, entry);
        const handoff = createHandoff({
          // The lock's own connection: see withResultLock.
          pool: db,
          temporal: temporal(),
          practices: deps.practices,
          taskQueue: deps.labResultTaskQueue ?? Context.current().info.taskQueue,
          idSecret: deps.idSecret,
          now: deps.now,
          temporalDeadlineMs: ACTIVITY_HANDOFF_DEADLINE_MS,
        });
        const outcome = await handoff({
          source: 'athena',
          practiceId: request.practiceId,
          messageId: mapped.messageId,
          // The message ID is already a digest of every field a notification depends on.
          rawBody: mapped.messageId,
          results: [mapped],
        });
        switch (outcome.kind) {
          case 'accepted': {
            await resolveDeadLetter(db, request.practiceId, request.labResultId);
            const workflowId = outcome.workflowIds[0] ?? '';
            return {
              kind: 'handed-off',
              workflowId,
              duplicate: outcome.duplicate,
              signedOff: mapped.signedOff !== undefined,
            };
          }
          case 'unknown-practice':
            throw ApplicationFailure.nonRetryable(
              `practice ${outcome.practiceId} is not configured`,
              ActivityErrorType.CONFIGURATION,
            );
          case 'conflict':
            return deadLetter(db, request, outcome.reason);
        }
      });
    },

    async readAthenaChangedFeed({ practiceId }) {
      const entry = practiceEntry(practiceId);
      const startedAt = deps.now();
      const checkpoint = (await checkpoints.get(practiceId)) ?? startedAt;
      const refs = new Map<string, AthenaResultRef>();
      const add = (documents: AthenaLabResultDocument[]) => {
        for (const document of documents) {
          if (document.patientid === undefined) {
            // Every feed record carries its patient; without one the document cannot be read.
            log.warn('athena feed record without patientid skipped', { practiceId });
            continue;
          }
          refs.set(document.labresultid, {
            practiceId,
            labResultId: document.labresultid,
            patientId: document.patientid,
          });
        }
      };

      // 1. The destructive read: marks what it returns processed in athena.
      for (let page = 0; page < MAX_DESTRUCTIVE_PAGES; page += 1) {
        const { labResults } = await deps.athena.listChangedLabResults({
          practiceId: entry.athenaPracticeId,
          limit: FEED_PAGE_SIZE,
        });
        add(labResults);
        heartbeat();
        if (labResults.length < FEED_PAGE_SIZE) break;
      }

      // 2. Everything processed since the checkpoint (less a margin), including what step 1 just
      // marked and what a crashed earlier poll read but never handed off. Not marking: repeatable.
      let readThrough = startedAt;
      const windows = planRefetchWindows({ from: checkpoint, now: deps.now() });
      for (const [i, window] of windows.entries()) {
        if (i > 0 && refs.size >= MAX_REFS_PER_POLL) {
          // The rest waits for the next poll, which starts from here.
          readThrough = new Date(Math.min(startedAt.getTime(), window.start.getTime()));
          break;
        }
        for (let offset = 0; ; offset += FEED_PAGE_SIZE) {
          const { labResults, totalCount } = await deps.athena.listChangedLabResults({
            practiceId: entry.athenaPracticeId,
            showProcessedStart: window.start,
            showProcessedEnd: window.end,
            leaveUnprocessed: true,
            limit: FEED_PAGE_SIZE,
            offset,
          });
          add(labResults);
          heartbeat();
          if (labResults.length === 0 || offset + labResults.length >= totalCount) break;
        }
      }
      return { practiceId, refs: [...refs.values()], readThrough: readThrough.toISOString() };
    },

    async advanceAthenaFeedCheckpoint({ practiceId, polledThrough }) {
      const at = new Date(polledThrough);
      if (Number.isNaN(at.getTime())) {
        throw ApplicationFailure.nonRetryable('polledThrough is not an ISO date-time', 'InvalidCheckpoint');
      }
      await checkpoints.advance(practiceId, at);
    },
  };
}

/**
 * The practice's staff IDs for athena's provider: the ordering provider, and the reviewer when athena
 * names the same provider (its mapping takes the reviewer from `providerid`).
 */
function withPracticeProviders(result: LabResult, entry: PracticeEntry): LabResult {
  const mapped = applyPracticeProviders(result, entry, { arrivesSigned: false });
  const before = result.orderingProvider?.id;
  const after = mapped.orderingProvider?.id;
  if (
    mapped.signedOff !== undefined &&
    before !== undefined &&
    after !== before &&
    mapped.signedOff.providerId === before
  ) {
    return { ...mapped, signedOff: { ...mapped.signedOff, providerId: after ?? before } };
  }
  return mapped;
}

/** The athena ingest activities from the worker's dependencies; without athena settings each fails as misconfigured. */
export function createAthenaIngestActivitiesFrom(deps: ActivityDeps): AthenaIngestActivities {
  if (deps.athenaIngest !== undefined) {
    return createAthenaIngestActivities({
      ...deps.athenaIngest,
      pool: deps.pool,
      now: deps.now,
      practices: deps.practices,
    });
  }
  const missing = (): never => {
    throw ApplicationFailure.nonRetryable(
      'athena ingest is not configured on this worker',
      ActivityErrorType.CONFIGURATION,
    );
  };
  return { ingestAthenaLabResult: missing, readAthenaChangedFeed: missing, advanceAthenaFeedCheckpoint: missing };
}
