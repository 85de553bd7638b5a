import type { Pool } from 'pg';
import type { AuditSink } from '../lib/audit/types';
import type { AthenaIngestDeps } from './athena-ingest';
import type { AthenaClient } from '../lib/clients/athena';
import type { SpruceClient } from '../lib/clients/spruce';
import type { WorkflowSignaller } from '../lib/consent/workflow-signaller';
import type { PracticeRegistry } from '../lib/practices';

export type { AuditSink, AuditEventInput as AuditEvent } from '../lib/audit/types';

/** The slice of the Twilio client that activities use (lib/clients/twilio `TwilioMessaging`). */
export interface SmsGateway {
  sendSms(input: { to: string; body: string; statusCallbackUrl: string }): Promise<{ sid: string; status: string }>;
  /** Messages to `to` created at or after `sentAfter`, newest first: how an ambiguous send is reconciled. */
  findRecentMessages(input: {
    to: string;
    sentAfter: Date;
  }): Promise<{ sid: string; body: string; dateCreated: string }[]>;
}

/** One Twilio sender (lib/sms/senders.ts) as a staff SMS page uses it: its client and throughput. */
export interface SmsSenderGateway {
  sms: SmsGateway;
  segmentsPerSecond: number;
}

/** The slice of the Spruce client that activities use. */
export type SpruceGateway = Pick<
  SpruceClient,
  | 'findContactByIntegration'
  | 'searchContacts'
  | 'createContact'
  | 'listContactConversations'
  | 'createSecureConversation'
  | 'postMessage'
  | 'uploadMedia'
  | 'createNoteConversation'
>;

/** The slice of the athenahealth client that activities use. */
export type AthenaGateway = Pick<
  AthenaClient,
  'updateLabResultPatientNote' | 'getPortalPublication' | 'createPatientCase' | 'assignPatientCase' | 'findPatientCases'
>;

export interface ActivityDeps {
  pool: Pool;
  audit: AuditSink;
  sms: SmsGateway;
  /** Public URL of the API's Twilio status-callback route. */
  smsStatusCallbackUrl: string;
  /**
   * Every configured Twilio sender by id (the default one included), so a staff SMS page goes from
   * its practice's sender at that sender's pace. Absent: pages go through `sms`, unpaced (tests).
   */
  smsSenders?: ReadonlyMap<string, SmsSenderGateway>;
  spruce: SpruceGateway;
  /** The org's Spruce Link (secure internal endpoint) that result threads are sent from; unset = no Spruce. */
  spruceInternalEndpointId?: string;
  athena: AthenaGateway;
  /** Practice policies (staff, Spruce members, athena usernames and departments) and athena practice IDs. */
  practices: PracticeRegistry;
  /**
   * Signals to lab-result workflows from inside an activity (a carrier opt-out reaches the patient's
   * other open workflows). Absent: the worker's own client (`Context.current().client`).
   */
  signaller?: WorkflowSignaller;
  /**
   * Public URL of the review app (`PUBLIC_BASE_URL/review`), for the link to the result in pages to
   * staff (Spruce and SMS); unset: the page names the result without a link.
   */
  reviewBaseUrl?: string;
  /** Injected so tests control time; activities never read the clock directly. */
  now: () => Date;
  /** athena reads and the workflow-ID secret for the athena ingest activities; absent: they fail as misconfigured. */
  athenaIngest?: Omit<AthenaIngestDeps, 'pool' | 'now' | 'practices' | 'audit'>;
}
