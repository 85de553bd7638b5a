import type { Pool } from 'pg';
import type { IngestTrigger } from '../../domain/athena-ingest-contract';

/**
 * athena results that cannot be ingested for a reason a retry cannot fix. Recording them (instead
 * of failing forever or dropping them) lets the feed move on while an operator sees exactly which
 * documents need attention. A later successful ingest of the same document resolves the entry.
 */
export type { IngestTrigger };

export interface DeadLetterEntry {
  practiceId: string;
  labResultId: string;
  /** Absent for a feed record that named no patient (the reason says so). */
  patientId?: string;
  /** What is wrong, naming fields, never values. */
  reason: string;
  trigger: IngestTrigger;
}

export async function recordDeadLetter(pool: Pick<Pool, 'query'>, entry: DeadLetterEntry): Promise<void> {
  await pool.query(
    `INSERT INTO athena_ingest_dead_letter (practice_id, lab_result_id, patient_id, reason, trigger)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (practice_id, lab_result_id) DO UPDATE
       SET reason = EXCLUDED.reason, trigger = EXCLUDED.trigger, patient_id = COALESCE(EXCLUDED.patient_id, athena_ingest_dead_letter.patient_id),
           attempts = athena_ingest_dead_letter.attempts + 1, last_seen_at = now(), resolved_at = NULL`,
    [entry.practiceId, entry.labResultId, entry.patientId ?? null, entry.reason, entry.trigger],
  );
}

export async function resolveDeadLetter(
  pool: Pick<Pool, 'query'>,
  practiceId: string,
  labResultId: string,
): Promise<void> {
  await pool.query(
    `UPDATE athena_ingest_dead_letter SET resolved_at = now()
     WHERE practice_id = $1 AND lab_result_id = $2 AND resolved_at IS NULL`,
    [practiceId, labResultId],
  );
}
