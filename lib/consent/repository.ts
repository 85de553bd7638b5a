import type { Pool, PoolClient } from 'pg';
import type { ConsentChangedEvent } from '../../workflows/definitions';

/**
 * The SMS consent record (table `sms_consent`, one row per practice, patient and phone number) and
 * the lookups that route a consent change to the right patients and workflows. No record means no
 * consent: only the one-time consent invitation may go to such a number.
 */

type Db = Pool | PoolClient;

/** Where a consent state came from. `carrier`: Twilio refused a send with 21610 (the number sent STOP). */
export type ConsentSource = ConsentChangedEvent['source'];

export interface ConsentKey {
  practiceId: string;
  patientId: string;
  /** E.164. */
  phone: string;
}

export interface PatientRef {
  practiceId: string;
  patientId: string;
}

/** The recorded consent, or undefined when there is no record. */
export async function getSmsConsent(db: Db, key: ConsentKey): Promise<boolean | undefined> {
  const { rows } = await db.query<{ consented: boolean }>(
    `SELECT consented FROM sms_consent WHERE practice_id = $1 AND patient_id = $2 AND phone_e164 = $3`,
    [key.practiceId, key.patientId, key.phone],
  );
  return rows[0]?.consented;
}

export interface ConsentWrite {
  /** False when the record already said the same thing (a repeated STOP, a re-delivered webhook). */
  changed: boolean;
  previous: boolean | undefined;
}

/** Record consent (insert or update) and say whether that changed anything. */
export async function setSmsConsent(
  db: Db,
  key: ConsentKey & { consented: boolean; source: ConsentSource },
): Promise<ConsentWrite> {
  // The CTE reads the old value in the same statement, so concurrent writers each see a consistent
  // "previous" (the row lock of the upsert orders them).
  const { rows } = await db.query<{ previous: boolean | null }>(
    `WITH old AS (
       SELECT consented FROM sms_consent WHERE practice_id = $1 AND patient_id = $2 AND phone_e164 = $3
     ), upsert AS (
       INSERT INTO sms_consent (practice_id, patient_id, phone_e164, consented, source, updated_at)
       VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (practice_id, patient_id, phone_e164)
       DO UPDATE SET consented = EXCLUDED.consented, source = EXCLUDED.source, updated_at = now()
       RETURNING 1
     )
     SELECT (SELECT consented FROM old) AS previous FROM upsert`,
    [key.practiceId, key.patientId, key.phone, key.consented, key.source],
  );
  const previous = rows[0]?.previous ?? undefined;
  return { changed: previous !== key.consented, previous };
}

/**
 * Every patient a phone number belongs to: consent records and open workflows that carry it.
 * `practiceIds` narrows the search to the practices the inbound number serves.
 */
export async function findPatientsByPhone(db: Db, phone: string, practiceIds?: string[]): Promise<PatientRef[]> {
  const { rows } = await db.query<{ practice_id: string; patient_id: string }>(
    `SELECT DISTINCT practice_id, patient_id FROM (
       SELECT practice_id, patient_id FROM sms_consent WHERE phone_e164 = $1
       UNION
       SELECT practice_id, patient_id FROM workflow_patient WHERE phone_e164 = $1 AND open
     ) matches
     WHERE $2::text[] IS NULL OR practice_id = ANY($2::text[])
     ORDER BY practice_id, patient_id`,
    [phone, practiceIds ?? null],
  );
  return rows.map((r) => ({ practiceId: r.practice_id, patientId: r.patient_id }));
}

/** The phone numbers we know for a patient (consent records and open workflows). */
export async function phonesOfPatient(db: Db, patient: PatientRef): Promise<string[]> {
  const { rows } = await db.query<{ phone: string }>(
    `SELECT phone_e164 AS phone FROM sms_consent WHERE practice_id = $1 AND patient_id = $2
     UNION
     SELECT phone_e164 FROM workflow_patient WHERE practice_id = $1 AND patient_id = $2 AND open AND phone_e164 IS NOT NULL
     ORDER BY phone`,
    [patient.practiceId, patient.patientId],
  );
  return rows.map((r) => r.phone);
}

/** IDs of the patient's open lab-result workflows. */
export async function openWorkflowsOfPatient(db: Db, patient: PatientRef): Promise<string[]> {
  const { rows } = await db.query<{ workflow_id: string }>(
    `SELECT workflow_id FROM workflow_patient WHERE practice_id = $1 AND patient_id = $2 AND open ORDER BY workflow_id`,
    [patient.practiceId, patient.patientId],
  );
  return rows.map((r) => r.workflow_id);
}

/** Remember which workflow concerns which patient and phone, so consent changes and STOPs reach it. */
export async function linkWorkflowToPatient(
  db: Db,
  link: PatientRef & { workflowId: string; phone?: string },
): Promise<void> {
  await db.query(
    `INSERT INTO workflow_patient (workflow_id, practice_id, patient_id, phone_e164, open)
     VALUES ($1, $2, $3, $4, true)
     ON CONFLICT (workflow_id) DO UPDATE SET patient_id = $3, phone_e164 = $4, updated_at = now()`,
    [link.workflowId, link.practiceId, link.patientId, link.phone ?? null],
  );
}

/** Mark a workflow closed for routing purposes (it no longer exists in Temporal). */
export async function closeWorkflowLink(db: Db, workflowId: string): Promise<void> {
  await db.query(`UPDATE workflow_patient SET open = false, updated_at = now() WHERE workflow_id = $1`, [workflowId]);
}

/** The send that holds a number's one consent invitation. */
export interface InvitationSendKey {
  workflowId: string;
  resultVersion: number;
  step: string;
}

export interface ConsentInvitationRecord extends InvitationSendKey {
  claimedAt: Date;
}

/** The consent invitation recorded for this practice+patient+phone, if one was sent (or claimed). */
export async function getConsentInvitation(db: Db, key: ConsentKey): Promise<ConsentInvitationRecord | undefined> {
  const { rows } = await db.query<{ workflow_id: string; result_version: number; step: string; claimed_at: Date }>(
    `SELECT workflow_id, result_version, step, claimed_at FROM consent_invitation
     WHERE practice_id = $1 AND patient_id = $2 AND phone_e164 = $3`,
    [key.practiceId, key.patientId, key.phone],
  );
  const row = rows[0];
  return row === undefined
    ? undefined
    : { workflowId: row.workflow_id, resultVersion: row.result_version, step: row.step, claimedAt: row.claimed_at };
}

export type InvitationClaim =
  | { claimed: true; record: ConsentInvitationRecord }
  /** Another send holds the invitation (an earlier one, or the winner of a race). */
  | { claimed: false; record: ConsentInvitationRecord };

/**
 * Claim the number's one invitation for `send`. The primary key makes it atomic: of two concurrent
 * claims exactly one inserts, and the other reads the winner's row. The same send claiming again
 * (an activity retry) gets `claimed: true`.
 */
export async function claimConsentInvitation(
  db: Db,
  key: ConsentKey & { send: InvitationSendKey },
): Promise<InvitationClaim> {
  for (;;) {
    const inserted = await db.query<{ claimed_at: Date }>(
      `INSERT INTO consent_invitation (practice_id, patient_id, phone_e164, workflow_id, result_version, step)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (practice_id, patient_id, phone_e164) DO NOTHING
       RETURNING claimed_at`,
      [key.practiceId, key.patientId, key.phone, key.send.workflowId, key.send.resultVersion, key.send.step],
    );
    const mine = inserted.rows[0];
    if (mine !== undefined) return { claimed: true, record: { ...key.send, claimedAt: mine.claimed_at } };
    const existing = await getConsentInvitation(db, key);
    // Only a deleted row (an operator reset) can vanish between the two statements: claim again.
    if (existing === undefined) continue;
    const same =
      existing.workflowId === key.send.workflowId &&
      existing.resultVersion === key.send.resultVersion &&
      existing.step === key.send.step;
    return { claimed: same, record: existing };
  }
}
