import { RESULT_STATUSES, type ResultStatus } from '../domain/lab-result';
import type { LabloopActivities, PriorRunSummary } from '../domain/activity-contract';
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
      // The workflow's own decisions: their idempotency keys are `<workflowId>:<runId>:<seq>`.
      const audit = await pool.query<{
        last_version: string | null;
        closing: unknown;
        closing_patient: string | null;
        latest_patient: string | null;
      }>(
        `SELECT MAX(CASE WHEN jsonb_typeof(details->'version') = 'number' THEN (details->>'version')::numeric END)::text
                  AS last_version,
                (array_agg(details ORDER BY seq DESC)
                   FILTER (WHERE action = 'routing-decision' AND outcome = 'closed'))[1] AS closing,
                (array_agg(patient_id ORDER BY seq DESC)
                   FILTER (WHERE action = 'routing-decision' AND outcome = 'closed'))[1] AS closing_patient,
                (array_agg(patient_id ORDER BY seq DESC) FILTER (WHERE patient_id IS NOT NULL))[1] AS latest_patient
           FROM audit_log
          WHERE workflow_id = $1 AND starts_with(idempotency_key, $1 || ':')`,
        [workflowId],
      );
      const a = audit.rows[0];
      const auditVersion = a?.last_version != null ? Math.floor(Number(a.last_version)) : 0;
      const closing = closingFacts(a?.closing);
      const patientId = a?.closing_patient ?? a?.latest_patient ?? undefined;
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
