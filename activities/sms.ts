import { ApplicationFailure } from '@temporalio/activity';
import { TwilioSendError, describeTwilioErrorCode } from '../lib/clients/twilio';
import { getSmsConsent, setSmsConsent } from '../lib/consent/repository';
import type { GenericSmsRequest, SmsSendOutcome } from './contract';
import type { ActivityDeps } from './deps';
import { ActivityErrorType } from './error-types';
import { recordedProviderIds, sendOnce, type ReconcileResult } from './outbox';

/**
 * Generic (no-PHI) SMS through Twilio. Runs on SMS_TASK_QUEUE (worker/sms-worker.ts), whose
 * server-side rate limit is the sender's throughput.
 *
 * Failures the workflow acts on:
 *  - SmsConsentMissingError (non-retryable): no consent on record, or consent revoked;
 *  - SmsPermanentError (non-retryable): Twilio refused for good (21211 invalid number, 21610 the
 *    number replied STOP, 21614 landline, 30007 filtered, …); `details[0]` is `{ code }`;
 *  - anything else is retryable (429/5xx/timeouts), with Twilio's Retry-After as the next delay.
 */

/**
 * How far before the intent row's timestamp reconciliation looks. Twilio's `date_created` has whole
 * seconds and its clock is not ours: a minute of slack covers both without reaching back to texts
 * from an earlier hour (and already-recorded SIDs are skipped anyway).
 */
export const RECONCILE_CLOCK_SKEW_MS = 60_000;

export const SMS_RETRYABLE_ERROR_TYPE = 'SmsRetryableError';

export function createSmsActivities(
  deps: Pick<ActivityDeps, 'pool' | 'audit' | 'sms' | 'smsStatusCallbackUrl' | 'now'>,
) {
  return {
    /** Send one generic SMS at most once per (workflow, result version, step). */
    sendGenericSms: async (request: GenericSmsRequest): Promise<SmsSendOutcome> => {
      const consent = await getSmsConsent(deps.pool, {
        practiceId: request.practiceId,
        patientId: request.patientId,
        phone: request.to,
      });
      // A revocation always wins; only the consent invitation may go where nothing is on record.
      if (consent === false || (request.requiresConsent && consent !== true)) {
        throw ApplicationFailure.nonRetryable(
          consent === false ? 'SMS consent was revoked for this number' : 'no SMS consent on record for this number',
          ActivityErrorType.SMS_CONSENT_MISSING,
        );
      }

      const reconcile = async (intentCreatedAt: Date): Promise<ReconcileResult> => {
        let found;
        try {
          found = await deps.sms.findRecentMessages({
            to: request.to,
            sentAfter: new Date(intentCreatedAt.getTime() - RECONCILE_CLOCK_SKEW_MS),
          });
        } catch (err) {
          return {
            kind: 'unknown',
            reason:
              err instanceof TwilioSendError ? `twilio-list-${err.code ?? err.networkCode ?? 'failed'}` : 'list-failed',
          };
        }
        // Our own earlier attempt has exactly this body; a SID another send already owns is not ours.
        const candidates = found.filter((m) => m.body === request.body);
        const taken = await recordedProviderIds(
          deps.pool,
          'sms',
          candidates.map((m) => m.sid),
        );
        const ours = candidates
          .filter((m) => !taken.has(m.sid))
          .sort((a, b) => Date.parse(a.dateCreated) - Date.parse(b.dateCreated))[0];
        return ours === undefined ? { kind: 'not-found' } : { kind: 'found', providerMessageId: ours.sid };
      };

      try {
        const outcome = await sendOnce(
          deps,
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
          reconcile,
        );
        return { providerMessageId: outcome.providerMessageId, alreadySent: outcome.alreadySent };
      } catch (err) {
        throw await toActivityFailure(deps, request, err);
      }
    },
  };
}

/** Map a Twilio failure to what the workflow understands; PHI-free messages only. */
async function toActivityFailure(
  deps: Pick<ActivityDeps, 'pool' | 'audit' | 'now'>,
  request: GenericSmsRequest,
  err: unknown,
): Promise<unknown> {
  if (!(err instanceof TwilioSendError)) return err;
  if (err.kind === 'permanent') {
    if (err.code === 21610) {
      // Twilio holds a STOP for this number that we never saw (sent to another of our senders, or
      // before we existed): keep our record in step so no other workflow tries again.
      const write = await setSmsConsent(deps.pool, {
        practiceId: request.practiceId,
        patientId: request.patientId,
        phone: request.to,
        consented: false,
        source: 'carrier',
      });
      await deps.audit.append({
        occurredAt: deps.now().toISOString(),
        practiceId: request.practiceId,
        workflowId: request.workflowId,
        patientId: request.patientId,
        actor: { type: 'system', id: 'worker' },
        action: 'consent-change',
        channel: 'sms',
        outcome: 'revoked',
        details: { source: 'carrier', code: 21610, changed: write.changed },
        idempotencyKey: `consent:twilio-21610:${request.workflowId}:v${request.resultVersion}:${request.step}`,
      });
    }
    const what =
      err.code !== undefined ? `${err.code} ${describeTwilioErrorCode(err.code)}` : `HTTP ${err.httpStatus ?? '?'}`;
    return ApplicationFailure.create({
      message: `Twilio refused the SMS: ${what}`,
      type: ActivityErrorType.SMS_PERMANENT,
      nonRetryable: true,
      details: [{ code: err.code ?? null, httpStatus: err.httpStatus ?? null }],
    });
  }
  return ApplicationFailure.create({
    message: err.message,
    type: SMS_RETRYABLE_ERROR_TYPE,
    nonRetryable: false,
    details: [{ code: err.code ?? null, ambiguous: err.ambiguous }],
    ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
  });
}
