import type { Pool } from 'pg';
import type { AuditSink } from '../audit/types';
import type { ConversationContacts, SpruceConversationItem } from '../clients/spruce';
import type { ConsentChange } from '../consent/apply-change';
import { phonesOfPatient, type PatientRef } from '../consent/repository';
import { classifyInboundText } from '../consent/revocation';
import type { WorkflowSignaller } from '../consent/workflow-signaller';
import { patientsOfThread } from '../outbox/outbox';
import { patientsOfSpruceContacts } from '../spruce-contacts';
import { processedSpruceEventsOf } from './events';
import { processInboundReply } from './reply-pipeline';

/**
 * The Spruce adapter of the inbound-reply pipeline (reply-pipeline.ts): a patient's secure message,
 * after the webhook's signature was checked and its event recorded (api/routes/spruce-webhooks.ts).
 * It becomes `patientReply` (`text`) to the patient's open workflows, and, if it reads as a
 * revocation ("stop texting me"), SMS consent is revoked for the patient's numbers: a revocation by
 * any reasonable means counts, whatever channel it arrives on. The patient is found by the thread:
 * our own sends into it, else the conversation's contacts, asked of Spruce's API
 * (`GET /conversations/{id}`, cached) since a documented item names only its conversation.
 */

export interface SpruceReplyDeps {
  pool: Pool;
  audit: AuditSink;
  signaller: WorkflowSignaller;
  now: () => Date;
  /**
   * The contacts of a conversation, through Spruce's API. Absent: a reply is matched only in threads
   * we posted into (tests without a Spruce client).
   */
  conversations?: ConversationContacts;
}

/** What a patient's item was acted on as (the event's inbound_event kind). */
export type SpruceReplyResult = 'reply' | 'revocation' | 'edited' | 'stale' | 'unknown-patient';

/** What an inbound item's earlier events were acted on as: a later event of it must not reply again. */
const REPLY_KINDS = ['reply', 'revocation', 'edited'];

/**
 * A patient's message, from its `.created`, its `.updated` (an edit) or both, in either order: the
 * patient replied once, so `patientReply` goes out once per item, for the first event that arrives.
 * An event older (by eventTime) than one already acted on is stale. A later edit changes nothing,
 * unless it turns the message into a revocation ("stop texting me"), which is honoured as such.
 */
export async function handleSpruceInboundItem(
  deps: SpruceReplyDeps,
  eventKey: string,
  eventTime: Date,
  item: SpruceConversationItem,
): Promise<SpruceReplyResult> {
  const earlier = await processedSpruceEventsOf(deps.pool, item.id, eventKey, REPLY_KINDS);
  if (earlier.length === 0) return handlePatientMessage(deps, eventKey, item);
  if (earlier.some((e) => e.eventTime !== null && e.eventTime.getTime() > eventTime.getTime())) return 'stale';
  const alreadyRevoked = earlier.some((e) => e.kind === 'revocation');
  if (!alreadyRevoked && classifyInboundText(item.text).intent === 'stop') {
    return handlePatientMessage(deps, eventKey, item, { replySignalled: true });
  }
  return 'edited';
}

/**
 * Which patients a conversation belongs to: by the sends we made into it, else by its contacts
 * (asked of Spruce, cached) that we know as patients (spruce_contact, learned when a thread was
 * found or created). A Spruce failure here propagates: the event stays unprocessed and Spruce
 * re-delivers it, rather than a reply being dropped as from an unknown patient.
 */
async function patientsOfConversation(deps: SpruceReplyDeps, conversationId: string): Promise<PatientRef[]> {
  const ours = await patientsOfThread(deps.pool, 'spruce', conversationId);
  if (ours.length > 0 || deps.conversations === undefined) return ours;
  const contactIds = await deps.conversations.contactIdsOf(conversationId);
  if (contactIds.length === 0) return [];
  return patientsOfSpruceContacts(deps.pool, contactIds);
}

async function handlePatientMessage(
  deps: SpruceReplyDeps,
  eventKey: string,
  item: SpruceConversationItem,
  options: { replySignalled?: boolean } = {},
): Promise<SpruceReplyResult> {
  const patients = await patientsOfConversation(deps, item.conversationId);
  if (patients.length === 0) return 'unknown-patient';
  const classification = classifyInboundText(item.text);
  const revokes = classification.intent === 'stop';
  const result: SpruceReplyResult = revokes ? 'revocation' : 'reply';
  const at = deps.now().toISOString();
  await processInboundReply(deps, {
    channel: 'spruce',
    eventKey,
    patients,
    at,
    kind: result,
    consentChanges: async (client, patient): Promise<ConsentChange[]> =>
      revokes
        ? (await phonesOfPatient(client, patient)).map((phone) => ({
            ...patient,
            phone,
            consented: false,
            source: 'free-text',
            actor: { type: 'patient', id: patient.patientId },
            eventKey: `spruce:${item.id}`,
            rule: classification.rule,
            via: 'spruce',
          }))
        : [],
    replyAudit: (patient) => ({
      occurredAt: at,
      practiceId: patient.practiceId,
      patientId: patient.patientId,
      actor: { type: 'patient', id: patient.patientId },
      action: 'patient-reply',
      channel: 'spruce',
      outcome: revokes ? 'stop' : 'text',
      details: { itemId: item.id, rule: classification.rule },
      idempotencyKey: `reply:spruce:${item.id}:${patient.practiceId}:${patient.patientId}`,
    }),
    // An edit that became a revocation: consentChanged goes out; the reply itself was signalled.
    replySignal:
      options.replySignalled === true ? undefined : { channel: 'spruce', kind: revokes ? 'stop' : 'text', at },
  });
  return result;
}
