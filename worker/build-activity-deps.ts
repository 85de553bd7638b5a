import type { Pool } from 'pg';
import type { ActivityDeps } from '../activities';
import type { AppConfig } from '../lib/config';
import { createAuditLog } from '../lib/audit';
import { createTwilioMessaging } from '../lib/clients/twilio';

/** Real clients from configuration (the sandbox points their base URLs at the local fakes). */
export function buildActivityDeps(config: AppConfig, pool: Pool): ActivityDeps {
  const sms = createTwilioMessaging({
    accountSid: config.TWILIO_ACCOUNT_SID,
    authToken: config.TWILIO_AUTH_TOKEN,
    messagingServiceSid: config.TWILIO_MESSAGING_SERVICE_SID,
    fromNumber: config.TWILIO_FROM_NUMBER,
    apiBaseUrl: config.TWILIO_API_BASE_URL,
  });
  return {
    pool,
    audit: createAuditLog(pool),
    sms,
    smsStatusCallbackUrl: new URL('/webhooks/twilio/status', config.PUBLIC_BASE_URL).toString(),
    now: () => new Date(),
  };
}
