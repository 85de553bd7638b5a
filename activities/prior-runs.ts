import type { LabloopActivities, PriorRunSummary } from './contract';
import type { ActivityDeps } from './deps';

/**
 * A result that comes back after its workflow closed (the correction window ran out) starts a new
 * run under the same workflow ID. That run asks the outbox what the earlier ones did, so it numbers
 * its versions after theirs (outbox keys never collide, so nothing is wrongly deduplicated) and knows
 * whether the patient was already told (a later notice is then an "updated result").
 */
export function createPriorRunActivities({
  pool,
}: Pick<ActivityDeps, 'pool'>): Pick<LabloopActivities, 'findPriorRuns'> {
  return {
    async findPriorRuns({ workflowId }): Promise<PriorRunSummary> {
      const { rows } = await pool.query<{ last_version: number | null; notified_version: number | null }>(
        `SELECT MAX(result_version) AS last_version,
                MAX(result_version) FILTER (
                  WHERE status = 'sent' AND channel IN ('sms', 'spruce', 'portal') AND template <> 'consent-invitation'
                ) AS notified_version
           FROM outbox WHERE workflow_id = $1`,
        [workflowId],
      );
      const row = rows[0];
      return {
        lastVersion: row?.last_version ?? 0,
        ...(row?.notified_version != null ? { patientNotifiedVersion: row.notified_version } : {}),
      };
    },
  };
}
