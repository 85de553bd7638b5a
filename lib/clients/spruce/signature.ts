import { createHmac, timingSafeEqual } from 'node:crypto';

export interface SpruceSignatureInput {
  /** The webhook endpoint's signing secret (returned once when the endpoint was registered). */
  secret: string;
  /** The request body exactly as received, before any JSON parsing. */
  rawBody: Buffer | string;
  /** The `X-Spruce-Signature` header. */
  signature: string | undefined;
}

/**
 * Check a Spruce webhook: `X-Spruce-Signature` is the base64 HMAC-SHA256 of the raw body keyed with
 * the endpoint secret. Compared in constant time (Spruce's own sample uses Go's `hmac.Equal`); the
 * length check before it only reveals the fixed SHA-256 length.
 */
export function verifySpruceSignature({ secret, rawBody, signature }: SpruceSignatureInput): boolean {
  if (signature === undefined || signature === '' || secret === '') return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const given = Buffer.from(signature.trim(), 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
