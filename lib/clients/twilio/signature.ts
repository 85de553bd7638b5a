import twilio from 'twilio';

export interface TwilioSignatureInput {
  authToken: string;
  /** The `X-Twilio-Signature` header as received (missing → invalid). */
  signature: string | undefined;
  /**
   * The exact public URL Twilio was configured to call (scheme, host, path and query), not the URL
   * as seen behind a proxy: the signature covers it.
   */
  url: string;
  /** The form-encoded POST parameters as received (repeated names as arrays). */
  params: Record<string, string | string[]>;
}

/**
 * Check a webhook's `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the auth token, of the URL
 * followed by every POST parameter as name+value sorted by name.
 *
 * Delegates to twilio's `validateRequest` (twilio 6.2.0 `webhooks.ts`), which tries the URL with and
 * without the default port (Twilio's own signing is inconsistent about `:443`) and compares with
 * `crypto.timingSafeEqual` after a length check; the expected length is fixed by SHA-1, so the
 * early exit reveals nothing secret.
 */
export function verifyTwilioSignature({ authToken, signature, url, params }: TwilioSignatureInput): boolean {
  if (signature === undefined || signature === '' || authToken === '') return false;
  try {
    return twilio.validateRequest(authToken, signature, url, params);
  } catch {
    // A malformed URL cannot have been signed by Twilio.
    return false;
  }
}
