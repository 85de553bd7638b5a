import { ApplicationFailure } from '@temporalio/activity';
import type { PracticePolicy } from '../domain/practice';
import { describeTwilioErrorCode, TwilioSendError } from '../lib/clients/twilio';
import { reviewResultUrl } from '../lib/public-url';
import { senderPacer } from '../lib/sms/pacer';
import { smsSegments } from '../lib/sms/segments';
import { DEFAULT_SMS_SENDER_ID } from '../lib/sms/senders';
import type { PageReason, StaffSmsPageOutcome, StaffSmsPageRequest } from '../domain/activity-contract';
import type { ActivityDeps, SmsGateway } from './deps';
import { policyOf } from './practice-policy';
import { replayUnmatchedDeliveries } from '../lib/outbox/delivery-reports';
import { activitySignaller } from './signaller';
import { ActivityErrorType } from '../domain/activity-error-types';
import { sendOnce, type ReconcileResult } from '../lib/outbox/outbox';
import { reconcileTwilioSend } from './twilio-reconcile';
import { PAGE_REASON_TEXT } from './page-reasons';

/**
 * The second path of a critical page: when Spruce has not confirmed the page within the workflow's
 * short failure window, the same person gets a plain SMS through Twilio on their own phone
 * (`pagerPhone` in the practice registry). The text is generic on purpose (no patient, no test, no
 * value): the reason and the review link, which needs a sign-in. It goes through the outbox under
 * its own send key (channel `page`), so a retry never texts twice, and an ambiguous create is
 * reconciled against Twilio's message list like a patient text.
 *
 * It goes from the practice's own sender (`policy.smsSenderId`, else the default sender) and takes
 * its segments from that sender's pacer (lib/sms/pacer.ts), ahead of patient texts waiting there: a
 * page stays inside the sender's throughput without waiting behind a patient backlog (which queues
 * in Temporal, not in the pacer). A practice naming a sender that is not configured pages from the
 * default sender rather than not at all. Twilio's status callbacks for the page (channel `page`) are
 * audited and signalled like a patient text's; any that came before its SID was recorded are
 * replayed after the send.
 */

export const STAFF_SMS_PAGE_RETRYABLE_ERROR_TYPE = 'StaffSmsPageRetryableError';

type StaffSmsPageDeps = Pick<
  ActivityDeps,
  'pool' | 'audit' | 'sms' | 'smsStatusCallbackUrl' | 'practices' | 'now' | 'reviewBaseUrl' | 'smsSenders' | 'signaller'
>;

/** The text: practice, urgency, reason and the review link; nothing about the patient or the result. */
export function staffSmsPageText(practiceName: string, reason: PageReason, reviewUrl: string | undefined): string {
  const link = reviewUrl !== undefined ? ` ${reviewUrl}` : ' Open the labloop review app.';
  return `${practiceName}: URGENT. ${PAGE_REASON_TEXT[reason]} (Spruce paging is failing).${link}`;
}

export function createStaffSmsPageActivities(deps: StaffSmsPageDeps) {
  return {
    async sendStaffSmsPage(request: StaffSmsPageRequest): Promise<StaffSmsPageOutcome> {
      const policy = policyOf(deps, request.practiceId);
      const staff = policy.staff.find((s) => s.id === request.staffId);
      const phone = staff?.pagerPhone;
      if (phone === undefined || phone === '') {
        throw ApplicationFailure.nonRetryable(
          `staff member ${request.staffId} of practice ${policy.practiceId} has no pagerPhone for SMS pages`,
          ActivityErrorType.CONFIGURATION,
        );
      }
      const reviewUrl =
        deps.reviewBaseUrl !== undefined ? reviewResultUrl(deps.reviewBaseUrl, request.workflowId) : undefined;
      const body = staffSmsPageText(policy.practiceName, request.reason, reviewUrl);

      const sender = senderOf(deps, policy);
      const reconcile = (intentCreatedAt: Date): Promise<ReconcileResult> =>
        reconcileTwilioSend({ ...deps, sms: sender.sms }, 'page', phone, body, intentCreatedAt);

      try {
        const outcome = await sendOnce(
          deps,
          request,
          {
            channel: 'page',
            practiceId: request.practiceId,
            template: `sms-page-${request.reason}`,
            auditAction: 'page',
          },
          async () => {
            // The next free slot of the sender, ahead of waiting patient texts.
            await sender.pacer?.take(smsSegments(body).segments, { urgent: true });
            const sent = await sender.sms.sendSms({ to: phone, body, statusCallbackUrl: deps.smsStatusCallbackUrl });
            return { providerMessageId: sent.sid };
          },
          reconcile,
        );
        // Status callbacks that came before the SID was known (e.g. it was found by reconciliation).
        const signaller = activitySignaller(deps.signaller);
        if (signaller !== undefined) {
          await replayUnmatchedDeliveries({ ...deps, signaller }, 'page', outcome.providerMessageId);
        }
        return {
          pageRef: outcome.providerMessageId,
          alreadySent: outcome.alreadySent,
          pagedAt: outcome.sentAt.toISOString(),
        };
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}

/** The practice's sender (its client and pacer), else the default one; unpaced without configured senders. */
function senderOf(
  deps: Pick<ActivityDeps, 'sms' | 'smsSenders'>,
  policy: PracticePolicy,
): { sms: SmsGateway; pacer?: ReturnType<typeof senderPacer> } {
  const id = policy.smsSenderId ?? DEFAULT_SMS_SENDER_ID;
  const configured = deps.smsSenders?.get(id) ?? deps.smsSenders?.get(DEFAULT_SMS_SENDER_ID);
  if (configured === undefined) return { sms: deps.sms };
  const senderId = deps.smsSenders?.has(id) === true ? id : DEFAULT_SMS_SENDER_ID;
  return { sms: configured.sms, pacer: senderPacer(senderId, configured.segmentsPerSecond) };
}

/** A Twilio failure as the workflow understands it; codes only, never Twilio's text (it may quote the number). */
function toFailure(err: unknown): unknown {
  if (!(err instanceof TwilioSendError)) return err;
  const details = [{ code: err.code ?? null, httpStatus: err.httpStatus ?? null }];
  if (err.kind === 'permanent') {
    const what =
      err.code !== undefined ? `${err.code} ${describeTwilioErrorCode(err.code)}` : `HTTP ${err.httpStatus ?? '?'}`;
    return ApplicationFailure.create({
      message: `Twilio refused the staff page: ${what}`,
      type: ActivityErrorType.SMS_PERMANENT,
      nonRetryable: true,
      details,
    });
  }
  return ApplicationFailure.create({
    message: `Twilio could not take the staff page (${err.code ?? err.networkCode ?? err.httpStatus ?? 'no answer'})`,
    type: STAFF_SMS_PAGE_RETRYABLE_ERROR_TYPE,
    nonRetryable: false,
    details,
    ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
  });
}
