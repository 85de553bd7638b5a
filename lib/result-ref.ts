import { createHmac } from 'node:crypto';

/**
 * The opaque part of a workflow ID: a keyed digest of (practice, result identifier). Keyed, so the
 * ID reveals nothing and cannot be brute-forced back to an accession number without the secret;
 * source-independent, so the same result seen over HL7 and athena lands on one workflow.
 */
const RESULT_REF_HEX_CHARS = 32; // 128 bits: collisions are out of reach for any practice's volume

export function resultRef(secret: string, practiceId: string, resultId: string): string {
  return createHmac('sha256', secret)
    .update(`${practiceId}\u0000${resultId.trim().toUpperCase()}`)
    .digest('hex')
    .slice(0, RESULT_REF_HEX_CHARS);
}
