import type { PoolClient } from 'pg';
import { appendAuditInTransaction } from '../audit/append';
import type { PracticeRegistry } from '../practices';
import type { ConsentChangeDeps } from '../consent/apply-change';
import { claimSmsEvent } from './events';
import { processInboundReply } from './reply-pipeline';
import { findPatientsByPhone, type PatientRef } from '../consent/repository';
import { classifyInboundText, type InboundClassification } from '../consent/revocation';

/**
 * The Twilio adapter of the inbound-reply pipeline (reply-pipeline.ts). An inbound SMS from a
 * patient, after its signature was checked: recorded once under its MessageSid, classified (STOP /
 * START / HELP / anything else), matched to the patients who use that number, and turned into
 * consent changes, audit events and signals to their open workflows. The body is classified in
 * memory and never stored, logged or audited.
 *
 * The event row, every consent change, every audit row (the patient's reply, and our own TwiML
 * answer as a `send`) and the list of signals owed commit in one transaction; the signals go out
 * after it. A failure in between leaves the event at `received` with its list, and the sweeper
 * (lib/inbound/sweeper.ts) or Twilio's re-delivery finishes it. A message that was processed is never
 * answered again; one whose first delivery failed before answering gets its (already audited) answer
 * with the re-delivery that finishes it.
 */

/** HELP answer when the practice cannot be told from the number (no PHI, like every reply). */
export const GENERIC_HELP_TEXT =
  'Lab result notices from your care team. Reply STOP to opt out. For help, call your practice.';

/** Templates of our own TwiML answers, as audited (`send` rows, channel sms). */
export const HELP_REPLY_TEMPLATE = 'sms-help-reply';
export const STOP_CONFIRMATION_TEMPLATE = 'sms-stop-confirmation';

export interface InboundSms {
  messageSid: string;
  /** The patient's number (E.164). */
  from: string;
  /** Our number the patient wrote to. */
  to: string;
  body: string;
  messagingServiceSid?: string;
}

export interface InboundSmsDeps extends ConsentChangeDeps {
  practices: PracticeRegistry;
  /** The practices a sender (To number or Messaging Service SID) serves; undefined = every practice. */
  practicesForSender: (sender: { to: string; messagingServiceSid?: string }) => string[] | undefined;
}

export interface InboundSmsOutcome {
  classification: InboundClassification;
  /** How many patients the number belongs to (0: unknown sender). */
  patients: number;
  /** Text to answer with (TwiML <Message>), if any. Never for a message already processed. */
  reply?: string;
  /** True when this MessageSid was seen before (a re-delivery): nothing was done or answered again. */
  duplicate: boolean;
}

/** Our answer to a text, decided before anything is written. */
interface PlannedReply {
  text: string;
  template: typeof HELP_REPLY_TEMPLATE | typeof STOP_CONFIRMATION_TEMPLATE;
  /** `practice`: the practice's own text; `generic`: no single practice could be told from the number. */
  variant: 'practice' | 'generic';
  practiceId?: string;
}

export async function handleInboundSms(deps: InboundSmsDeps, sms: InboundSms): Promise<InboundSmsOutcome> {
  const classification = classifyInboundText(sms.body);
  const practiceIds = deps.practicesForSender({ to: sms.to, messagingServiceSid: sms.messagingServiceSid });
  const patients = await findPatientsByPhone(deps.pool, sms.from, practiceIds);
  const planned = replyFor(deps, classification, sms.body, practiceIds, patients);
  const at = deps.now().toISOString();

  const outcome = { classification, patients: patients.length };
  const consents = classification.intent === 'stop' || classification.intent === 'start';
  const processed = await processInboundReply(
    deps,
    {
      channel: 'sms',
      eventKey: sms.messageSid,
      patients,
      at,
      consentChanges: (_client, patient) =>
        Promise.resolve(
          consents
            ? [
                {
                  ...patient,
                  phone: sms.from,
                  consented: classification.intent === 'start',
                  source: classification.match === 'free-text' ? 'free-text' : 'keyword',
                  actor: { type: 'patient', id: patient.patientId },
                  eventKey: sms.messageSid,
                  rule: classification.rule,
                  via: 'sms',
                },
              ]
            : [],
        ),
      // A STOP or START is audited as the consent change it makes; anything else as a reply.
      replyAudit: (patient) =>
        consents
          ? undefined
          : {
              occurredAt: at,
              practiceId: patient.practiceId,
              patientId: patient.patientId,
              actor: { type: 'patient', id: patient.patientId },
              action: 'patient-reply',
              channel: 'sms',
              outcome: classification.intent,
              details: { rule: classification.rule, event: sms.messageSid },
              idempotencyKey: `reply:${sms.messageSid}:${patient.practiceId}:${patient.patientId}`,
            },
      replySignal: { channel: 'sms', kind: classification.intent, at },
      ...(planned !== undefined
        ? {
            auditAnswer: (client: PoolClient) =>
              auditReply(client, deps, planned, sms.messageSid, classification, patients, practiceIds, at),
          }
        : {}),
    },
    async (client) => {
      const row = await claimSmsEvent(
        client,
        sms.messageSid,
        patients.length === 0 ? 'unknown-sender' : classification.intent,
        singlePractice(practiceIds, patients),
      );
      if (row?.status === 'processed') return { kind: 'duplicate' };
      // Committed by an earlier delivery that failed before its signals (and its answer): finish that.
      if (row?.pendingSignals != null) return { kind: 'resume', signals: row.pendingSignals };
      return { kind: 'fresh' };
    },
  );

  if (processed === 'duplicate') return { ...outcome, duplicate: true };
  // The earlier delivery failed before it could answer (Twilio sent nothing): its answer, audited
  // with its work, is given now. A message already processed was answered and gets nothing.
  const answer = planned !== undefined ? { reply: planned.text } : {};
  return { ...outcome, ...answer, duplicate: processed === 'resume' };
}

/**
 * Our TwiML answer is a text to the patient like any other, so it is audited as a `send` (channel
 * sms, its template and variant) before we answer: one row per patient the number belongs to, or,
 * from a number nobody is known by, one per practice the answer speaks for (the practice it names,
 * else every practice the number serves).
 */
async function auditReply(
  client: PoolClient,
  deps: InboundSmsDeps,
  reply: PlannedReply,
  messageSid: string,
  classification: InboundClassification,
  patients: PatientRef[],
  practiceIds: string[] | undefined,
  at: string,
): Promise<void> {
  const recipients: { practiceId: string; patientId?: string }[] =
    patients.length > 0
      ? patients
      : (reply.practiceId !== undefined
          ? [reply.practiceId]
          : (practiceIds ?? deps.practices.all().map((p) => p.policy.practiceId))
        ).map((practiceId) => ({ practiceId }));
  for (const recipient of recipients) {
    await appendAuditInTransaction(client, {
      occurredAt: at,
      practiceId: recipient.practiceId,
      ...(recipient.patientId !== undefined ? { patientId: recipient.patientId } : {}),
      actor: { type: 'system', id: 'api' },
      action: 'send',
      channel: 'sms',
      template: reply.template,
      variant: reply.variant,
      outcome: 'sent',
      details: { via: 'twiml', event: messageSid, rule: classification.rule },
      idempotencyKey: `twiml-reply:${messageSid}:${recipient.practiceId}:${recipient.patientId ?? '-'}`,
    });
  }
}

function singlePractice(practiceIds: string[] | undefined, patients: PatientRef[]): string | undefined {
  if (practiceIds?.length === 1) return practiceIds[0];
  const fromPatients = [...new Set(patients.map((p) => p.practiceId))];
  return fromPatients.length === 1 ? fromPatients[0] : undefined;
}

/**
 * The keywords Twilio answers by itself on long codes, toll-free numbers and Messaging Services
 * (docs/reference external-systems.md §4.6): whole body, one word, any case. Advanced Opt-Out can
 * change the reply's text but cannot turn it off, so any reply of ours to these would be a second one.
 */
export const TWILIO_AUTO_REPLY_KEYWORDS = [
  'STOP',
  'STOPALL',
  'UNSUBSCRIBE',
  'CANCEL',
  'END',
  'QUIT',
  'REVOKE',
  'OPTOUT',
  'START',
  'UNSTOP',
  'YES',
  'HELP',
  'INFO',
] as const;

/** True when Twilio has already answered this body with its own keyword reply. */
export function twilioAnswersItself(body: string): boolean {
  return (TWILIO_AUTO_REPLY_KEYWORDS as readonly string[]).includes(body.trim().toUpperCase());
}

/**
 * What to text back. Nothing to what Twilio answers itself: STOP, START and HELP as exact keywords
 * get Twilio's auto-reply (for HELP, the practice's text is configured as the Messaging Service's
 * Advanced Opt-Out HELP reply, see README), and a second reply would be one text too many. A HELP
 * that Twilio did not recognise as its keyword ("help!", "Help.") gets the practice's help text from
 * us; a free-text revocation gets the one confirmation the FCC rule allows, since no carrier
 * recognised it.
 */
function replyFor(
  deps: InboundSmsDeps,
  classification: InboundClassification,
  body: string,
  practiceIds: string[] | undefined,
  patients: PatientRef[],
): PlannedReply | undefined {
  if (twilioAnswersItself(body)) return undefined;
  const practiceId =
    singlePractice(practiceIds, patients) ??
    (deps.practices.all().length === 1 ? deps.practices.all()[0]?.policy.practiceId : undefined);
  const policy = practiceId === undefined ? undefined : deps.practices.policy(practiceId);
  const known = policy !== undefined ? { variant: 'practice' as const, practiceId: policy.practiceId } : undefined;
  if (classification.intent === 'help') {
    return {
      text: policy?.smsHelpText ?? GENERIC_HELP_TEXT,
      template: HELP_REPLY_TEMPLATE,
      ...(known ?? { variant: 'generic' as const }),
    };
  }
  if (classification.intent === 'stop' && classification.match === 'free-text') {
    const from = policy?.practiceName ?? 'your care team';
    return {
      text: `You will get no more texts from ${from}. Reply START to opt back in.`,
      template: STOP_CONFIRMATION_TEMPLATE,
      ...(known ?? { variant: 'generic' as const }),
    };
  }
  return undefined;
}
