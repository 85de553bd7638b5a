import { ApplicationFailure } from '@temporalio/activity';
import {
  claimConsentInvitation,
  closeWorkflowLink,
  getConsentInvitation,
  getSmsConsent,
  linkWorkflowToPatient,
} from '../lib/consent/repository';
import type { ConsentInvitationClaim, PatientLink, SmsConsentLookup } from '../domain/activity-contract';
import type { ActivityDeps } from './deps';
import { ActivityErrorType } from '../domain/activity-error-types';

export function createConsentActivities({ pool }: Pick<ActivityDeps, 'pool'>) {
  return {
    /** Remember which workflow concerns which patient/phone, so consent changes and STOPs reach it. */
    async linkWorkflowPatient(link: PatientLink): Promise<void> {
      await linkWorkflowToPatient(pool, link);
    },

    async closeWorkflowPatient(workflowId: string): Promise<void> {
      await closeWorkflowLink(pool, workflowId);
    },

    /** Consent, and whether this number already had its one consent invitation (from any workflow). */
    async lookupSmsConsent(input: { practiceId: string; patientId: string; phone: string }): Promise<SmsConsentLookup> {
      const [consent, invitation] = await Promise.all([getSmsConsent(pool, input), getConsentInvitation(pool, input)]);
      return {
        consented: consent === true,
        ...(invitation !== undefined ? { invitationSentAt: invitation.claimedAt.toISOString() } : {}),
      };
    },

    /**
     * Reserve the number's one invitation for this send, right before it is sent. A number another
     * send already holds is refused for good, so neither a second result nor a racing workflow can
     * invite the same patient twice.
     */
    async claimConsentInvitation(claim: ConsentInvitationClaim): Promise<void> {
      const outcome = await claimConsentInvitation(pool, {
        practiceId: claim.practiceId,
        patientId: claim.patientId,
        phone: claim.phone,
        send: { workflowId: claim.workflowId, resultVersion: claim.resultVersion, step: claim.step },
      });
      if (!outcome.claimed) {
        throw ApplicationFailure.create({
          message: `the consent invitation for this number was already sent (by ${outcome.record.workflowId} v${outcome.record.resultVersion})`,
          type: ActivityErrorType.CONSENT_INVITATION_ALREADY_SENT,
          nonRetryable: true,
          details: [{ workflowId: outcome.record.workflowId, claimedAt: outcome.record.claimedAt.toISOString() }],
        });
      }
    },
  };
}
