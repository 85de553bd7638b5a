import type { Pool } from 'pg';
import { createSmsActivities } from '../../activities/sms';
import { createSpruceActivities } from '../../activities/spruce';
import { createAuditLog } from '../../lib/audit';
import { createSpruceClient } from '../../lib/clients/spruce';
import { createTwilioMessaging } from '../../lib/clients/twilio';
import { loadPracticeRegistry, type PracticeRegistry } from '../../lib/practices';
import { DEFAULT_SECURE_ENDPOINT_ID } from '../../sandbox/fakes/spruce';

/**
 * The channel activities as the worker builds them (real client, real outbox and audit log in the
 * test database), pointed at a vendor fake instead of the vendor. Everything a test varies is an
 * option; the rest is what every channel test uses.
 */

/** The Twilio account a test registered with its Twilio fake. */
export interface TwilioTestAccount {
  accountSid: string;
  authToken: string;
  messagingServiceSid: string;
}

/** `sendGenericSms` and friends, sending through the Twilio fake at `twilioUrl`. */
export function smsActivitiesForFake(
  pool: Pool,
  options: {
    twilioUrl: string;
    account: TwilioTestAccount;
    /** Where the fake posts status callbacks (a closed port when the test does not listen). */
    statusCallbackUrl: string;
    /** The client's request timeout; absent: the client's default. */
    timeoutMs?: number;
  },
): ReturnType<typeof createSmsActivities> {
  return createSmsActivities({
    pool,
    audit: createAuditLog(pool),
    sms: createTwilioMessaging({
      ...options.account,
      apiBaseUrl: options.twilioUrl,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    }),
    smsStatusCallbackUrl: options.statusCallbackUrl,
    now: () => new Date(),
  });
}

/** The Spruce activities, talking to the Spruce fake at `spruceApiBaseUrl` (its `apiBaseUrl`). */
export function spruceActivitiesForFake(
  pool: Pool,
  options: {
    spruceApiBaseUrl: string;
    token: string;
    /** The client's request timeout; absent: the client's default. */
    timeoutMs?: number;
    /** Default: the sandbox practices (config/practices.sandbox.json). */
    practices?: PracticeRegistry;
    /** Default: the wall clock. */
    now?: () => Date;
  },
): ReturnType<typeof createSpruceActivities> {
  return createSpruceActivities({
    pool,
    audit: createAuditLog(pool),
    spruce: createSpruceClient({
      baseUrl: options.spruceApiBaseUrl,
      token: options.token,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    }),
    spruceInternalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
    practices: options.practices ?? loadPracticeRegistry('config/practices.sandbox.json'),
    now: options.now ?? (() => new Date()),
  });
}
