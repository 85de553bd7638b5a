import type { Pool } from 'pg';
import type { AuditSink } from '../lib/audit/types';

export type { AuditSink, AuditEventInput as AuditEvent } from '../lib/audit/types';

/** The slice of the Twilio client that activities use. */
export interface SmsGateway {
  sendSms(input: { to: string; body: string; statusCallbackUrl: string }): Promise<{ sid: string; status: string }>;
}

export interface ActivityDeps {
  pool: Pool;
  audit: AuditSink;
  sms: SmsGateway;
  /** Public URL of the API's Twilio status-callback route. */
  smsStatusCallbackUrl: string;
  /** Injected so tests control time; activities never read the clock directly. */
  now: () => Date;
}
