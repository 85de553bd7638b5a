import type { Pool } from 'pg';
import { createSmsActivities } from '../../activities/sms';
import { createSpruceActivities } from '../../activities/spruce';
import { createAuditLog } from '../../lib/audit';
import { createSpruceClient } from '../../lib/clients/spruce';
import { createTwilioMessaging } from '../../lib/clients/twilio';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
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

/** A signaller for tests that do not look at signals: accepts everything, records nothing. */
export const NO_SIGNALS: WorkflowSignaller = { signal: () => Promise.resolve(true) };

/** A signaller that records what would be signalled, for assertions. */
export function recordingSignaller(
  calls: { workflowId: string; signal: string; arg: Record<string, unknown> }[],
): WorkflowSignaller {
  return {
    signal(workflowId, definition, ...args) {
      calls.push({ workflowId, signal: definition.name, arg: args[0] as Record<string, unknown> });
      return Promise.resolve(true);
    },
  };
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
    /** Signals from the activity (carrier opt-outs, replayed delivery reports); absent: none are sent. */
    signaller?: WorkflowSignaller;
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
    signaller: options.signaller ?? NO_SIGNALS,
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
    signaller?: WorkflowSignaller;
    /** The review app's public URL, for the link in pages; absent: pages without a link. */
    reviewBaseUrl?: string;
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
    signaller: options.signaller ?? NO_SIGNALS,
    now: options.now ?? (() => new Date()),
    ...(options.reviewBaseUrl !== undefined ? { reviewBaseUrl: options.reviewBaseUrl } : {}),
  });
}
