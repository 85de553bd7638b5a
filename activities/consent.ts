import type { ActivityDeps } from './deps';
import type { PatientLink } from './contract';


export function createConsentActivities({ pool }: Pick<ActivityDeps, 'pool'>) {
  return {
    /** Remember which workflow concerns which patient/phone, so consent changes and STOPs reach it. */
    async linkWorkflowPatient(link: PatientLink): Promise<void> {
      await pool.query(
        `INSERT INTO workflow_patient (workflow_id, practice_id, patient_id, phone_e164, open)
         VALUES ($1, $2, $3, $4, true)
         ON CONFLICT (workflow_id) DO UPDATE SET patient_id = $3, phone_e164 = $4, updated_at = now()`,
        [link.workflowId, link.practiceId, link.patientId, link.phone ?? null],
      );
    },

    async closeWorkflowPatient(workflowId: string): Promise<void> {
      await pool.query(`UPDATE workflow_patient SET open = false, updated_at = now() WHERE workflow_id = $1`, [
        workflowId,
      ]);
    },

    /** Current SMS consent for this patient and number; no record means no consent. */
    async checkSmsConsent(input: { practiceId: string; patientId: string; phone: string }): Promise<boolean> {
      const { rows } = await pool.query<{ consented: boolean }>(
        `SELECT consented FROM sms_consent WHERE practice_id = $1 AND patient_id = $2 AND phone_e164 = $3`,
        [input.practiceId, input.patientId, input.phone],
      );
      return rows[0]?.consented === true;
    },
  };
}
