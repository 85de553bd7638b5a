import { RESULT_STATUSES, type ResultStatus } from '../domain/lab-result';
import type { LabloopActivities, PriorRunSummary } from '../domain/activity-contract';
import { workflowDecisionFacts } from '../lib/audit/workflow-history';
import { sendVersionsOf } from '../lib/outbox/outbox';
import type { ActivityDeps } from './deps';

/**
 * A result that comes back after its workflow closed (the correction window ran out) starts a new
 * run under the same workflow ID. That run asks labloop's own records what the earlier ones did:
 *
 * - the outbox: which versions had sends (so its own send keys never collide with theirs and nothing
 *   is wrongly deduplicated) and whether the patient was told (a later notice is an "updated result");
 * - the audit log: the version numbers the earlier runs used (review items and audit rows carry them
 *   too), and the row each run writes when it closes, with the digest of its last version's content,
 *   that version's status and the patient (so a change of values is a correction, and another
 *   patient is refused).
 *
 * Both are PostgreSQL tables, kept as long as labloop keeps its records; Temporal's copy of the
 * earlier run (its query answers, result and memo) lasts only as long as the namespace's retention,
 * which is usually shorter than the time a correction can take to come back.
 */
export function createPriorRunActivities({
  pool,
}: Pick<ActivityDeps, 'pool'>): Pick<LabloopActivities, 'findPriorRuns'> {
  return {
    async findPriorRuns({ workflowId }): Promise<PriorRunSummary> {
      const sends = await sendVersionsOf(pool, workflowId);
      const a = await workflowDecisionFacts(pool, workflowId);
      const auditVersion = a?.lastVersion != null ? Math.floor(Number(a.lastVersion)) : 0;
      const closing = closingFacts(a?.closing);
      const patientId = a?.closingPatient ?? a?.latestPatient ?? undefined;
      return {
        lastVersion: Math.max(sends.lastVersion ?? 0, Number.isFinite(auditVersion) ? auditVersion : 0),
        ...(sends.notifiedVersion !== undefined ? { patientNotifiedVersion: sends.notifiedVersion } : {}),
        ...(closing.contentDigest !== undefined ? { lastContentDigest: closing.contentDigest } : {}),
        ...(closing.status !== undefined ? { lastStatus: closing.status } : {}),
        ...(patientId !== undefined && patientId !== '' ? { patientId } : {}),
      };
    },
  };
}

const DIGEST = /^[0-9a-f]{64}$/;

/** The closing row's details (lifecycle.ts auditClose); anything malformed reads as unknown. */
function closingFacts(details: unknown): { contentDigest?: string; status?: ResultStatus } {
  if (typeof details !== 'object' || details === null) return {};
  const { contentDigest, lastStatus } = details as Record<string, unknown>;
  return {
    ...(typeof contentDigest === 'string' && DIGEST.test(contentDigest) ? { contentDigest } : {}),
    ...(typeof lastStatus === 'string' && (RESULT_STATUSES as readonly string[]).includes(lastStatus)
      ? { status: lastStatus as ResultStatus }
      : {}),
  };
}
