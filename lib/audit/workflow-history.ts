import type { Pool } from 'pg';

/**
 * What the audit log holds of a lab-result workflow's own decisions (their idempotency keys are
 * `<workflowId>:<runId>:<seq>`), for a later run under the same workflow ID (activities/prior-runs.ts).
 */
export interface WorkflowDecisionFacts {
  /** The highest result version its decisions named, as text (a numeric aggregate), if any. */
  lastVersion: string | null;
  /** The details of its last closing row (`routing-decision` / `closed`), unparsed. */
  closing: unknown;
  /** The patient of that closing row. */
  closingPatient: string | null;
  /** The patient its latest decision named. */
  latestPatient: string | null;
}

export async function workflowDecisionFacts(
  pool: Pick<Pool, 'query'>,
  workflowId: string,
): Promise<WorkflowDecisionFacts | undefined> {
  const { rows } = await pool.query<{
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
  const row = rows[0];
  return row === undefined
    ? undefined
    : {
        lastVersion: row.last_version,
        closing: row.closing,
        closingPatient: row.closing_patient,
        latestPatient: row.latest_patient,
      };
}
