/**
 * Twilio senders and their throughput. Each sender (a Messaging Service or one number) has its own
 * SMS task queue, whose server-side rate limit is the sender's messages per second, and a worker that
 * paces the segments (worker/sms-worker.ts). A practice picks its sender with `policy.smsSenderId`.
 *
 * `TWILIO_SENDERS`: comma-separated `<id>=<MG SID or E.164 number>:<segments per second>`, e.g.
 * `riverside=MG0123…:1,lakeside=+15551230000:3`. The sender of TWILIO_MESSAGING_SERVICE_SID /
 * TWILIO_FROM_NUMBER is always there as `default`, at TWILIO_SENDER_SEGMENTS_PER_SECOND.
 */

export const DEFAULT_SMS_SENDER_ID = 'default';

export interface SmsSender {
  id: string;
  messagingServiceSid?: string;
  fromNumber?: string;
  segmentsPerSecond: number;
}

export const SENDER_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
const SENDER_ENTRY = /^([a-z0-9][a-z0-9-]{0,31})=(MG[0-9a-fA-F]{32}|\+[1-9]\d{6,14}):(\d+(?:\.\d+)?)$/;

/** Whether `value` is a well-formed TWILIO_SENDERS list (for the config schema). */
export function isSenderList(value: string): boolean {
  return value.split(',').every((entry) => SENDER_ENTRY.test(entry.trim()));
}

/** The default sender plus those of TWILIO_SENDERS. Throws naming the entry that is wrong. */
export function parseTwilioSenders(config: {
  TWILIO_MESSAGING_SERVICE_SID?: string;
  TWILIO_FROM_NUMBER?: string;
  TWILIO_SENDER_SEGMENTS_PER_SECOND: number;
  TWILIO_SENDERS?: string;
}): SmsSender[] {
  const senders: SmsSender[] = [
    {
      id: DEFAULT_SMS_SENDER_ID,
      ...(config.TWILIO_MESSAGING_SERVICE_SID !== undefined
        ? { messagingServiceSid: config.TWILIO_MESSAGING_SERVICE_SID }
        : { fromNumber: config.TWILIO_FROM_NUMBER }),
      segmentsPerSecond: config.TWILIO_SENDER_SEGMENTS_PER_SECOND,
    },
  ];
  for (const [index, raw] of (config.TWILIO_SENDERS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .entries()) {
    const match = SENDER_ENTRY.exec(raw);
    if (match === null) throw new Error(`TWILIO_SENDERS entry ${index + 1} must be <id>=<MG SID or E.164>:<rate>`);
    const [, id = '', sender = '', rate = ''] = match;
    const segmentsPerSecond = Number(rate);
    if (!(segmentsPerSecond > 0 && segmentsPerSecond <= 1000)) {
      throw new Error(`TWILIO_SENDERS entry ${index + 1}: the rate must be between 0 and 1000 segments per second`);
    }
    if (senders.some((s) => s.id === id)) throw new Error(`TWILIO_SENDERS: sender ${id} is listed twice`);
    senders.push({
      id,
      ...(sender.startsWith('MG') ? { messagingServiceSid: sender } : { fromNumber: sender }),
      segmentsPerSecond,
    });
  }
  return senders;
}
