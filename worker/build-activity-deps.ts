import type { Pool } from 'pg';
import type { ActivityDeps } from '../activities';
import type { LabloopActivities } from '../domain/activity-contract';
import { createSmsActivities } from '../activities/sms';
import { parseTwilioSenders, type SmsSender } from '../lib/sms/senders';
import type { ProcessConfig } from '../lib/config';
import { createAuditLog } from '../lib/audit';
import { createAthenaClient } from '../lib/clients/athena';
import { createSpruceClient } from '../lib/clients/spruce';
import { createTwilioMessaging } from '../lib/clients/twilio';
import { publicUrl } from '../lib/public-url';
import { withAuditMetrics } from '../lib/metrics/audit-observer';
import { allowPracticeLabels } from '../lib/metrics/labels';
import { loadPracticeRegistry, type PracticeRegistry } from '../lib/practices';

/** Real clients from configuration (the sandbox points their base URLs at the local fakes). */
export function buildActivityDeps(
  config: ProcessConfig<'worker'>,
  pool: Pool,
  practices: PracticeRegistry = loadPracticeRegistry(config.LABLOOP_PRACTICES_FILE),
): ActivityDeps {
  allowPracticeLabels(practices.all().map((p) => p.policy.practiceId));
  const sms = createTwilioMessaging({
    accountSid: config.TWILIO_ACCOUNT_SID,
    authToken: config.TWILIO_AUTH_TOKEN,
    messagingServiceSid: config.TWILIO_MESSAGING_SERVICE_SID,
    fromNumber: config.TWILIO_FROM_NUMBER,
    apiBaseUrl: config.TWILIO_API_BASE_URL,
  });
  // Each sender's own client, for staff SMS pages from the practice's sender (activities/staff-sms-page.ts).
  const smsSenders = new Map(
    parseTwilioSenders(config).map((sender) => [
      sender.id,
      { sms: senderMessaging(config, sender), segmentsPerSecond: sender.segmentsPerSecond },
    ]),
  );
  const spruce = createSpruceClient({ baseUrl: config.SPRUCE_API_BASE_URL, token: config.SPRUCE_API_TOKEN });
  const athena = createAthenaClient({
    baseUrl: config.ATHENA_BASE_URL,
    clientId: config.ATHENA_CLIENT_ID,
    clientSecret: config.ATHENA_CLIENT_SECRET,
  });
  return {
    pool,
    // Every newly appended decision and send also counted as metrics (lib/metrics/audit-observer.ts).
    audit: withAuditMetrics(createAuditLog(pool), pool),
    sms,
    smsStatusCallbackUrl: publicUrl(config.PUBLIC_BASE_URL, '/webhooks/twilio/status'),
    smsSenders,
    reviewBaseUrl: publicUrl(config.PUBLIC_BASE_URL, '/review'),
    spruce,
    ...(config.SPRUCE_INTERNAL_ENDPOINT_ID !== undefined
      ? { spruceInternalEndpointId: config.SPRUCE_INTERNAL_ENDPOINT_ID }
      : {}),
    athena,
    practices,
    now: () => new Date(),
    // The athena ingest activities (webhook events, changed-data poller) read through the same client.
    athenaIngest: { athena, idSecret: config.LABLOOP_ID_SECRET },
  };
}

/** `sendGenericSms` sending from one Twilio sender (its own Messaging Service or number). */
export function smsSendForSender(
  config: ProcessConfig<'worker'>,
  deps: ActivityDeps,
): (sender: SmsSender) => LabloopActivities['sendGenericSms'] {
  return (sender) => createSmsActivities({ ...deps, sms: senderMessaging(config, sender) }).sendGenericSms;
}

/** The Twilio client that sends from one sender. */
function senderMessaging(config: ProcessConfig<'worker'>, sender: SmsSender) {
  return createTwilioMessaging({
    accountSid: config.TWILIO_ACCOUNT_SID,
    authToken: config.TWILIO_AUTH_TOKEN,
    ...(sender.messagingServiceSid !== undefined
      ? { messagingServiceSid: sender.messagingServiceSid }
      : { fromNumber: sender.fromNumber }),
    apiBaseUrl: config.TWILIO_API_BASE_URL,
  });
}
