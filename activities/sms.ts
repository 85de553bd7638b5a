import { ApplicationFailure } from '@temporalio/activity';
import type { Pool, PoolClient } from 'pg';
import { TwilioSendError, describeTwilioErrorCode } from '../lib/clients/twilio';
import {
  applyConsentChange,
  deliverSignals,
  recordConsentChange,
  type ConsentChange,
  type PendingSignal,
} from '../lib/consent/apply-change';
import { getSmsConsent } from '../lib/consent/repository';
import { paceSegments } from '../lib/sms/pacer';
import type { GenericSmsRequest, SmsSendOutcome } from '../domain/activity-contract';
import type { ActivityDeps } from './deps';
import { replayUnmatchedDeliveries } from '../lib/outbox/delivery-reports';
import { activitySignaller } from './signaller';
import { ActivityErrorType } from '../domain/activity-error-types';
import { smsErrorTypeForCode } from '../lib/clients/twilio/sms-error-types';
import { sendOnce, type ReconcileResult } from '../lib/outbox/outbox';
import { reconcileTwilioSend } from './twilio-reconcile';

/**
 * Generic (no-PHI) SMS through Twilio. Runs on the sender's SMS task queue (worker/sms-worker.ts),
 * whose server-side rate limit is the sender's throughput.
 *
 * Failures the workflow acts on (all non-retryable, `details[0]` is `{ code, httpStatus }`):
 *  - SmsConsentMissingError: no consent on record, or consent revoked;
 *  - SmsInvalidNumberError: the number cannot take texts (21211, 21614, 30005, 30006);
 *  - SmsOptedOutError: 21610, the number replied STOP to Twilio. Our consent record is revoked and
 *    audited in the same transaction as the failed attempt, and every open workflow of the patient
 *    is signalled `consentChanged` (source `carrier`), exactly like a STOP we received;
 *  - SmsBlockedError: filtered or refused for our sender (30007, 30034, 21612, 21408, …);
 *  - SmsPermanentError: any other refusal no retry will fix (an unlisted 4xx);
 *  - anything else is retryable (429/5xx/timeouts), with Twilio's Retry-After as the next delay.
 *    A 5xx, a timeout or a reset on the create leaves it unknown whether Twilio created the message,
 *    so the next attempt lists the number's messages (reconcile) before it sends again.
 */

export const SMS_RETRYABLE_ERROR_TYPE = 'SmsRetryableError';

type SmsDeps = Pick<ActivityDeps, 'pool' | 'audit' | 'sms' | 'smsStatusCallbackUrl' | 'now' | 'signaller'>;

/**
 * Refuse unless the number may be texted: a revocation always wins; only the consent invitation
 * (`requiresConsent: false`) may go where nothing is on record.
 */
async function requireConsent(db: Pool | PoolClient, request: GenericSmsRequest): Promise<void> {
  const consent = await getSmsConsent(db, {
    practiceId: request.practiceId,
    patientId: request.patientId,
    phone: request.to,
  });
  if (consent === false || (request.requiresConsent && consent !== true)) {
    throw ApplicationFailure.nonRetryable(
      consent === false ? 'SMS consent was revoked for this number' : 'no SMS consent on record for this number',
      ActivityErrorType.SMS_CONSENT_MISSING,
    );
  }
}

export function createSmsActivities(deps: SmsDeps) {
  return {
    /** Send one generic SMS at most once per (workflow, result version, step). */
    sendGenericSms: async (request: GenericSmsRequest): Promise<SmsSendOutcome> => {
      // Checked first, so a revoked number does not even record an intent...
      await requireConsent(deps.pool, request);

      const reconcile = (intentCreatedAt: Date): Promise<ReconcileResult> =>
        reconcileTwilioSend(deps, 'sms', request.to, request.body, intentCreatedAt);
      // A 21610 refusal's revocation, recorded with the failed attempt; its signal goes out after.
      let carrierOptOut: PendingSignal | undefined;

      try {
        const outcome = await sendOnce(
          deps,
          { workflowId: request.workflowId, resultVersion: request.resultVersion, step: request.step },
          {
            channel: 'sms',
            practiceId: request.practiceId,
            patientId: request.patientId,
            template: request.template,
            ...(request.variant !== undefined ? { variant: request.variant } : {}),
          },
          async (db) => {
            // The sender's segment budget (worker/sms-worker.ts), taken as late as possible.
            await paceSegments(request.body);
            // ...and again right before Twilio: a STOP may have arrived while this send waited for
            // the row lock or its slot in the pacer (seconds, behind a burst). What remains is the
            // Twilio round trip itself. Refused here, the attempt is audited as failed, not sent.
            await requireConsent(db, request);
            try {
              const sent = await deps.sms.sendSms({
                to: request.to,
                body: request.body,
                statusCallbackUrl: deps.smsStatusCallbackUrl,
              });
              return { providerMessageId: sent.sid };
            } catch (err) {
              // Twilio holds a STOP for this number: the revocation and its audit row commit in the
              // same transaction as the failed attempt, so whoever sees the send failed sees it too.
              if (isCarrierOptOut(err)) {
                ({ signal: carrierOptOut } = await recordConsentChange(
                  db,
                  carrierOptOutChange(request),
                  deps.now().toISOString(),
                ));
              }
              throw err;
            }
          },
          reconcile,
        );
        // Status callbacks that came before the SID was known (e.g. it was found by reconciliation).
        const signaller = activitySignaller(deps.signaller);
        if (signaller !== undefined) {
          await replayUnmatchedDeliveries({ ...deps, signaller }, 'sms', outcome.providerMessageId);
        }
        return { providerMessageId: outcome.providerMessageId, alreadySent: outcome.alreadySent };
      } catch (err) {
        throw await toActivityFailure(deps, request, err, carrierOptOut);
      }
    },
  };
}

/** Map a Twilio failure to what the workflow understands; PHI-free messages only. */
async function toActivityFailure(
  deps: SmsDeps,
  request: GenericSmsRequest,
  err: unknown,
  carrierOptOut: PendingSignal | undefined,
): Promise<unknown> {
  if (!(err instanceof TwilioSendError)) return err;
  if (err.kind === 'permanent') {
    const type = smsErrorTypeForCode(err.code);
    if (type === ActivityErrorType.SMS_OPTED_OUT) await signalCarrierOptOut(deps, request, carrierOptOut);
    const what =
      err.code !== undefined ? `${err.code} ${describeTwilioErrorCode(err.code)}` : `HTTP ${err.httpStatus ?? '?'}`;
    return ApplicationFailure.create({
      message: `Twilio refused the SMS: ${what}`,
      type,
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

function isCarrierOptOut(err: unknown): boolean {
  return (
    err instanceof TwilioSendError &&
    err.kind === 'permanent' &&
    smsErrorTypeForCode(err.code) === ActivityErrorType.SMS_OPTED_OUT
  );
}

/**
 * Twilio holds a STOP for this number that we never saw (sent to another of our senders, or before
 * we existed). It is a revocation like any other: recorded, audited and signalled to every open
 * workflow of the patient, so none of them tries to text again.
 */
function carrierOptOutChange(request: GenericSmsRequest): ConsentChange {
  return {
    practiceId: request.practiceId,
    patientId: request.patientId,
    phone: request.to,
    consented: false,
    source: 'carrier',
    actor: { type: 'system', id: 'twilio' },
    eventKey: `twilio-21610:${request.workflowId}:v${request.resultVersion}:${request.step}`,
    rule: 'twilio-21610',
    via: 'sms',
  };
}

/** Signal the recorded revocation (or record it now, if the refusal came some other way). */
async function signalCarrierOptOut(
  deps: SmsDeps,
  request: GenericSmsRequest,
  recorded: PendingSignal | undefined,
): Promise<void> {
  const change = { pool: deps.pool, audit: deps.audit, signaller: signallerOf(deps), now: deps.now };
  if (recorded !== undefined) await deliverSignals(change, [recorded]);
  else await applyConsentChange(change, carrierOptOutChange(request));
}

/** The injected signaller, else the worker's own Temporal client (same namespace, same codec). */
function signallerOf(deps: SmsDeps) {
  const signaller = activitySignaller(deps.signaller);
  if (signaller === undefined) throw new Error('no workflow signaller: not in an activity and none injected');
  return signaller;
}
