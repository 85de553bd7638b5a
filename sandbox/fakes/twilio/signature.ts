import { createHmac } from 'node:crypto';

/**
 * Sign a webhook the way Twilio does (X-Twilio-Signature): the full URL followed by every POST
 * parameter as name+value in name order, HMAC-SHA1 keyed with the account's auth token, base64.
 * Written independently of the twilio package so the client's verification is tested against a
 * second implementation, not against itself.
 */
export function signTwilioWebhook(authToken: string, url: string, params: Record<string, string>): string {
  const payload = Object.keys(params)
    .sort()
    .reduce((acc, name) => acc + name + params[name], url);
  return createHmac('sha1', authToken).update(Buffer.from(payload, 'utf8')).digest('base64');
}
