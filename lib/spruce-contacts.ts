import type { Pool } from 'pg';
import type { PatientRef } from './consent/repository';

/**
 * The Spruce contact of each patient (`spruce_contact`), learned when a secure thread is found or
 * created, so a reply in a conversation we did not post into can still be matched to its patient.
 * This module is the only one that reads or writes the table.
 */

export async function rememberSpruceContact(
  pool: Pick<Pool, 'query'>,
  patient: PatientRef,
  contactId: string,
): Promise<void> {
  await pool.query(
    `INSERT INTO spruce_contact (practice_id, patient_id, contact_id) VALUES ($1, $2, $3)
     ON CONFLICT (practice_id, patient_id) DO UPDATE SET contact_id = EXCLUDED.contact_id, updated_at = now()`,
    [patient.practiceId, patient.patientId, contactId],
  );
}

/** The patients we know by any of these Spruce contacts. */
export async function patientsOfSpruceContacts(
  pool: Pick<Pool, 'query'>,
  contactIds: readonly string[],
): Promise<PatientRef[]> {
  const { rows } = await pool.query<{ practice_id: string; patient_id: string }>(
    `SELECT DISTINCT practice_id, patient_id FROM spruce_contact WHERE contact_id = ANY($1::text[]) ORDER BY 1, 2`,
    [[...contactIds]],
  );
  return rows.map((r) => ({ practiceId: r.practice_id, patientId: r.patient_id }));
}
