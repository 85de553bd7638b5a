import { closeWorkflowLink, getSmsConsent } from '../lib/consent/repository';
import type { PatientLink } from './contract';
import type { ActivityDeps } from './deps';

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
      await closeWorkflowLink(pool, workflowId);
    },

    /** Current SMS consent for this patient and number; no record means no consent. */
    async checkSmsConsent(input: { practiceId: string; patientId: string; phone: string }): Promise<boolean> {
      return (await getSmsConsent(pool, input)) === true;
    },
  };
}
