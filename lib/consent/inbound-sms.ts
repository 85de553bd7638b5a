import type { PracticeRegistry } from '../practices';
import { applyConsentChange, signalPatientReply, type ConsentChangeDeps } from './apply-change';
import { findPatientsByPhone, type PatientRef } from './repository';
import { classifyInboundText, type InboundClassification } from './revocation';

/**
 * An inbound SMS from a patient, after its signature was checked: recorded once under its
 * MessageSid, classified (STOP / START / HELP / anything else), matched to the patients who use that
 * number, and turned into consent changes, audit events and signals to their open workflows. The
 * body is classified in memory and never stored, logged or audited.
 */

/** HELP answer when the practice cannot be told from the number (no PHI, like every reply). */
export const GENERIC_HELP_TEXT =
  'Lab result notices from your care team. Reply STOP to opt out. For help, call your practice.';

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
  /** Text to answer with (TwiML <Message>), if any. */
  reply?: string;
  /** True when this MessageSid was already processed (a re-delivery): nothing was done again. */
  duplicate: boolean;
}

export async function handleInboundSms(deps: InboundSmsDeps, sms: InboundSms): Promise<InboundSmsOutcome> {
  const classification = classifyInboundText(sms.body);
  const practiceIds = deps.practicesForSender({ to: sms.to, messagingServiceSid: sms.messagingServiceSid });
  const patients = await findPatientsByPhone(deps.pool, sms.from, practiceIds);
  const reply = replyFor(deps, classification, sms.body, practiceIds, patients);

  const { rows } = await deps.pool.query<{ status: string }>(
    `INSERT INTO inbound_event (channel, event_key, subject_id, kind, practice_id, status)
     VALUES ('sms', $1, $1, $2, $3, 'received')
     ON CONFLICT (channel, event_key) DO UPDATE SET kind = EXCLUDED.kind
     RETURNING status`,
    [
      sms.messageSid,
      patients.length === 0 ? 'unknown-sender' : classification.intent,
      singlePractice(practiceIds, patients) ?? null,
    ],
  );
  if (rows[0]?.status === 'processed') return { classification, patients: patients.length, reply, duplicate: true };

  const at = deps.now().toISOString();
  for (const patient of patients) {
    const actor = { type: 'patient' as const, id: patient.patientId };
    if (classification.intent === 'stop' || classification.intent === 'start') {
      await applyConsentChange(deps, {
        ...patient,
        phone: sms.from,
        consented: classification.intent === 'start',
        source: classification.match === 'free-text' ? 'free-text' : 'keyword',
        actor,
        eventKey: sms.messageSid,
        rule: classification.rule,
        via: 'sms',
      });
    } else {
      await deps.audit.append({
        occurredAt: at,
        practiceId: patient.practiceId,
        patientId: patient.patientId,
        actor,
        action: 'patient-reply',
        channel: 'sms',
        outcome: classification.intent,
        details: { rule: classification.rule, event: sms.messageSid },
        idempotencyKey: `reply:${sms.messageSid}:${patient.practiceId}:${patient.patientId}`,
      });
    }
    await signalPatientReply(deps, patient, { channel: 'sms', kind: classification.intent, at });
  }

  await deps.pool.query(
    `UPDATE inbound_event SET status = 'processed', processed_at = now() WHERE channel = 'sms' AND event_key = $1`,
    [sms.messageSid],
  );
  return { classification, patients: patients.length, reply, duplicate: false };
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
): string | undefined {
  if (twilioAnswersItself(body)) return undefined;
  const practiceId =
    singlePractice(practiceIds, patients) ??
    (deps.practices.all().length === 1 ? deps.practices.all()[0]?.policy.practiceId : undefined);
  const policy = practiceId === undefined ? undefined : deps.practices.policy(practiceId);
  if (classification.intent === 'help') return policy?.smsHelpText ?? GENERIC_HELP_TEXT;
  if (classification.intent === 'stop' && classification.match === 'free-text') {
    const from = policy?.practiceName ?? 'your care team';
    return `You will get no more texts from ${from}. Reply START to opt back in.`;
  }
  return undefined;
}
