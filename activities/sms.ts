import { ApplicationFailure } from '@temporalio/activity';
import type { ActivityDeps } from './deps';
import { ActivityErrorType } from './error-types';
import { sendOnce } from './outbox';
import type { GenericSmsRequest, SmsSendOutcome } from './contract';


export function createSmsActivities(deps: Pick<ActivityDeps, 'pool' | 'sms' | 'smsStatusCallbackUrl'>) {
  return {
    /** Send one generic SMS at most once per (workflow, result version, step). */
    async sendGenericSms(request: GenericSmsRequest): Promise<SmsSendOutcome> {
      const { rows } = await deps.pool.query<{ consented: boolean }>(
        `SELECT consented FROM sms_consent WHERE practice_id = $1 AND patient_id = $2 AND phone_e164 = $3`,
        [request.practiceId, request.patientId, request.to],
      );
      if (request.requiresConsent && rows[0]?.consented !== true) {
        throw ApplicationFailure.nonRetryable('no SMS consent on record for this number', ActivityErrorType.SMS_CONSENT_MISSING);
      }
      const outcome = await sendOnce(
        deps.pool,
        { workflowId: request.workflowId, resultVersion: request.resultVersion, step: request.step },
        { channel: 'sms', practiceId: request.practiceId, patientId: request.patientId, template: request.template },
        async () => {
          const sent = await deps.sms.sendSms({
            to: request.to,
            body: request.body,
            statusCallbackUrl: deps.smsStatusCallbackUrl,
          });
          return { providerMessageId: sent.sid };
        },
      );
      return { providerMessageId: outcome.providerMessageId, alreadySent: outcome.alreadySent };
    },
  };
}
