import { ApplicationFailure, Context, heartbeat, log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { LabResult } from '../domain/lab-result';
import { auditLinkEvents, createHandoff, type LinkEvent } from '../lib/ingest/handoff';
import { applyPracticeProviders } from '../lib/ingest/provider-mapping';
import {
  createFeedCheckpointStore,
  planRefetchWindows,
  recordDeadLetter,
  resolveDeadLetter,
  withResultLock,
  type DeadLetterEntry,
  type FeedCheckpointStore,
} from '../lib/athena-feed';
import {
  isAthenaError,
  mapAthenaLabResult,
  type AthenaClient,
  type AthenaLabResultDocument,
} from '../lib/clients/athena';
import type { AuditSink } from '../lib/audit/types';
import type { PracticeEntry, PracticeRegistry } from '../lib/practices';
import { ATHENA_RESULT_ID_ISSUER, type ResultLinkKey } from '../lib/result-ref';
import type {
  AthenaIngestActivities,
  AthenaIngestOutcome,
  AthenaResultRef,
  IngestAthenaLabResultRequest,
} from '../domain/athena-ingest-contract';
import type { ActivityDeps } from './deps';
import { ActivityErrorType } from '../domain/activity-error-types';

/**
 * Activities of the athena ingest workflows: read the changed-data feed, inflate one lab result
 * (document + patient) and hand it to its lab-result workflow through the same hand-off as HL7 and
 * FHIR, so every source lands on one workflow per result and every version is delivered once.
 *
 * Workflow identity: athena results are keyed by `labresultid` (what the client's mapping sets as
 * `resultId`) in the `athena` issuer namespace. `externalaccessionid` alone is not a key: one accession
 * can cover several athena documents (one per panel). It is, with the panel's LOINC and the patient,
 * the link to the same result the lab sent labloop over HL7 (lib/ingest/result-links.ts), so a
 * document whose result arrived over HL7 first lands on that workflow, and one that arrives first
 * defines the workflow the HL7 result then joins. The same result from athena's outbound ORU joins
 * through `routing.hl7ResultIdIssuers` (its OBR-3 is the lab-result ID).
 */
/** The slice of the athena client the ingest activities use. */
export type AthenaIngestGateway = Pick<AthenaClient, 'getLabResult' | 'getPatient' | 'listChangedLabResults'>;

export interface AthenaIngestDeps {
  pool: Pool;
  /** Where dead-lettered documents are recorded for the audit trail (and so for whoever watches it). */
  audit: AuditSink;
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
/** Idempotency-key digest of a dead-lettering: 128 bits. */
const DEAD_LETTER_KEY_HEX_CHARS = 32;
/** Why a feed record without a patient is dead-lettered (names the field, never a value). */
export const FEED_RECORD_WITHOUT_PATIENT = 'changed-feed record has no patientid: the document cannot be read';

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

  /**
   * Audits a dead-lettered document and warns (the stable log message is what alerting watches for).
   * `version` tells one dead-lettering apart from a repeat of the same one, so a retried attempt or a
   * re-read feed record is audited once. Called outside the per-result lock: the audit append takes a
   * pooled connection of its own, which must not be waited for while the lock's connection is held.
   */
  async function auditDeadLetter(entry: DeadLetterEntry, version: string): Promise<void> {
    const key = createHash('sha256')
      .update(JSON.stringify([entry.practiceId, entry.labResultId, entry.reason, version]))
      .digest('hex')
      .slice(0, DEAD_LETTER_KEY_HEX_CHARS);
    await deps.audit.append({
      occurredAt: deps.now().toISOString(),
      practiceId: entry.practiceId,
      ...(entry.patientId === undefined ? {} : { patientId: entry.patientId }),
      actor: { type: 'source', id: 'athena' },
      action: 'ingest',
      outcome: 'dead-lettered',
      details: { labResultId: entry.labResultId, trigger: entry.trigger, reason: entry.reason },
      idempotencyKey: `athena-dead-letter:${key}`,
    });
    log.warn('athena result dead-lettered', {
      practiceId: entry.practiceId,
      labResultId: entry.labResultId,
      trigger: entry.trigger,
      reason: entry.reason,
    });
  }

  async function deadLetter(
    db: Pick<Pool, 'query'>,
    request: IngestAthenaLabResultRequest,
    reason: string,
  ): Promise<AthenaIngestOutcome> {
    await recordDeadLetter(db, { ...request, reason });
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
      let linkEvents: LinkEvent[] = [];
      const outcome = await withResultLock<AthenaIngestOutcome>(
        deps.pool,
        `${request.practiceId}:${request.labResultId}`,
        async (db) => {
          let document: AthenaLabResultDocument;
          let result: LabResult;
          try {
            document = await deps.athena.getLabResult(ref);
            const patient = await deps.athena.getPatient(ref);
            result = mapAthenaLabResult({
              practiceId: request.practiceId,
              document,
              patient,
              staff: entry.policy.staff,
            });
          } catch (err) {
            if (isAthenaError(err)) {
              if (err.kind === 'not-found') return { kind: 'gone' };
              // The message names the operation, status, athena's error code and request ID; athena's
              // own wording (which may quote the patient) stays out of the dead letter and the audit.
              if (err.kind === 'permanent') return deadLetter(db, request, err.message);
              throw err; // auth, throttled, unavailable: Temporal retries
            }
            return deadLetter(db, request, mappingFailure(err));
          }
          // athena's lab-result ID is the identity every source that carries it shares (lib/result-ref.ts).
          const mapped = withPracticeProviders({ ...result, resultIdIssuer: ATHENA_RESULT_ID_ISSUER }, entry);
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
          const handedOff = await handoff({
            source: 'athena',
            practiceId: request.practiceId,
            sender: '',
            // Read by labloop from athena's API (its own OAuth client), whatever triggered the read.
            authenticatedSender: { id: 'athena', channel: 'athena-api' },
            messageId: mapped.messageId,
            // The message ID is already a digest of every field a notification depends on.
            content: mapped.messageId,
            results: [mapped],
            links: [athenaLinkKey(document, mapped)],
          });
          switch (handedOff.kind) {
            case 'accepted': {
              await resolveDeadLetter(db, request.practiceId, request.labResultId);
              linkEvents = handedOff.linkEvents;
              const workflowId = handedOff.workflowIds[0] ?? '';
              const linked = handedOff.linkEvents[0]?.outcome;
              return {
                kind: 'handed-off',
                workflowId,
                duplicate: handedOff.duplicate,
                signedOff: mapped.signedOff !== undefined,
                ...(linked === undefined ? {} : { linked }),
              };
            }
            case 'unknown-practice':
              throw ApplicationFailure.nonRetryable(
                `practice ${handedOff.practiceId} is not configured`,
                ActivityErrorType.CONFIGURATION,
              );
            case 'conflict':
              return deadLetter(db, request, handedOff.reason);
          }
        },
      );
      // Outside the lock, like the dead-letter audit below. A crash between the hand-off and this
      // append loses the row (the retry finds the version handed off); the version itself is safe.
      if (linkEvents.length > 0) await auditLinkEvents(deps.audit, linkEvents, deps.now().toISOString());
      if (outcome.kind === 'dead-lettered') {
        // One attempt of one activity is one dead-lettering, however often Temporal retries it.
        const info = Context.current().info;
        const attempt = `${info.workflowExecution?.workflowId ?? 'standalone'}:${info.activityId}`;
        await auditDeadLetter({ ...request, reason: outcome.reason }, attempt);
      }
      return outcome;
    },

    async readAthenaChangedFeed({ practiceId }) {
      const entry = practiceEntry(practiceId);
      const startedAt = deps.now();
      // Before the first destructive read: a first poll that fails after reading must leave a
      // checkpoint, or the next poll's re-read window would start at its own time and miss the batch.
      await checkpoints.ensure(practiceId, startedAt);
      const checkpoint = (await checkpoints.get(practiceId)) ?? startedAt;
      const refs = new Map<string, AthenaResultRef>();
      const withoutPatient = new Map<string, AthenaLabResultDocument>();
      const add = (documents: AthenaLabResultDocument[]) => {
        for (const document of documents) {
          if (document.patientid === undefined) {
            // Every feed record should carry its patient; without one the document cannot be read.
            // It is dead-lettered below (not skipped), since the checkpoint will move past it.
            withoutPatient.set(document.labresultid, document);
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
      for (const [labResultId, document] of withoutPatient) {
        if (refs.has(labResultId)) continue; // another record of the same document named its patient
        const entry: DeadLetterEntry = {
          practiceId,
          labResultId,
          trigger: 'feed',
          reason: FEED_RECORD_WITHOUT_PATIENT,
        };
        await recordDeadLetter(deps.pool, entry);
        await auditDeadLetter(entry, document.lastmodifieddatetime ?? '');
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
 * What links this document to the same result sent over HL7 by the lab (lib/ingest/result-links.ts):
 * an interface document's accession number, panel LOINC and patient. A document without an
 * accession or panel LOINC (a fax, a manual entry) has none.
 */
function athenaLinkKey(document: AthenaLabResultDocument, result: LabResult): ResultLinkKey | undefined {
  const accession = document.externalaccessionid?.trim();
  const panelLoinc = document.labresultloinc?.trim();
  if (accession === undefined || accession === '' || panelLoinc === undefined || panelLoinc === '') return undefined;
  return { accession, panelLoinc, patientId: result.patient.id };
}

/** lib/clients/athena/mapping.ts's refusal of a document and patient that do not belong together (no values). */
const ATHENA_DOCUMENT_PATIENT_MISMATCH = 'lab result document and patient record belong to different patients';

/** The mapping's known refusal names no value; any other failure is named by its kind only (it may quote the document). */
function mappingFailure(err: unknown): string {
  if (err instanceof Error && err.message === ATHENA_DOCUMENT_PATIENT_MISMATCH) return err.message;
  return `the document could not be mapped (${err instanceof Error ? err.name : typeof err})`;
}

/**
 * The practice's staff ID for athena's ordering provider (by `athenaProviderId`, then as every source:
 * staff ID or NPI). The reviewer is already a staff ID: the mapping attributes athena's review to a
 * registry provider or not at all.
 */
function withPracticeProviders(result: LabResult, entry: PracticeEntry): LabResult {
  const ordering = result.orderingProvider;
  const byAthenaId =
    ordering === undefined
      ? undefined
      : entry.policy.staff.find((s) => s.role === 'provider' && s.athenaProviderId === ordering.id);
  const named =
    byAthenaId === undefined || ordering === undefined
      ? result
      : { ...result, orderingProvider: { ...ordering, id: byAthenaId.id } };
  return applyPracticeProviders(named, entry, { arrivesSigned: false });
}

/** The athena ingest activities from the worker's dependencies; without athena settings each fails as misconfigured. */
export function createAthenaIngestActivitiesFrom(deps: ActivityDeps): AthenaIngestActivities {
  if (deps.athenaIngest !== undefined) {
    return createAthenaIngestActivities({
      ...deps.athenaIngest,
      pool: deps.pool,
      audit: deps.audit,
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
