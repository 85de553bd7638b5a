import { createHmac } from 'node:crypto';

/**
 * The opaque part of a workflow ID: a keyed digest of a result's identity. Keyed, so the ID reveals
 * nothing and cannot be brute-forced back to an accession number without the secret.
 *
 * A result's identity is (practice, issuer, result ID). A filler order number is unique only within
 * the lab that assigned it: two labs sending one practice the same number are two results, so the
 * issuer (HL7 OBR-3.2/3.3, else MSH-4; FHIR identifier.system) is part of the identity. athena's own
 * lab-result IDs live in the {@link ATHENA_RESULT_ID_ISSUER} namespace, which every source that
 * carries them maps to (the athena REST ingest always; an HL7 facility the practice registry says
 * carries them, see `hl7ResultIdIssuers`), so one result seen over HL7 and athena lands on one workflow.
 * A result the lab sends both to labloop and to athena carries two unrelated IDs; the hand-off links
 * them through a {@link ResultLinkKey} (lib/ingest/result-links.ts).
 */
const RESULT_REF_HEX_CHARS = 32; // 128 bits: collisions are out of reach for any practice's volume

/** The namespace of athena's lab-result IDs (`labresultid`). */
export const ATHENA_RESULT_ID_ISSUER = 'athena';

export interface ResultIdentity {
  practiceId: string;
  /** Who assigned `resultId` (a lab's namespace or OID, a FHIR identifier system, `athena`). */
  issuer: string;
  resultId: string;
}

/** Issuers and IDs compare case-insensitively and without surrounding blanks, as senders vary on both. */
function canonical(text: string): string {
  return text.trim().toUpperCase();
}

export function resultRef(secret: string, identity: ResultIdentity): string {
  const hmac = createHmac('sha256', secret);
  if (canonical(identity.issuer) === canonical(ATHENA_RESULT_ID_ISSUER)) {
    // athena's namespace keeps the original derivation (practice NUL id), so workflows started for
    // athena results before issuers were part of the identity keep receiving their versions.
    hmac.update(`${identity.practiceId}\u0000${canonical(identity.resultId)}`);
  } else {
    // A JSON array is unambiguous whatever the parts hold (a decoded HL7 value may contain NUL), and
    // starts with "[", which no practice ID does: it never meets the athena form above.
    hmac.update(JSON.stringify([identity.practiceId, canonical(identity.issuer), canonical(identity.resultId)]));
  }
  return hmac.digest('hex').slice(0, RESULT_REF_HEX_CHARS);
}

/**
 * What two sources of one result both carry, so the second can be linked to the first (see
 * lib/ingest/result-links.ts): the performing lab's accession number (HL7 OBR-3.1, athena's
 * `externalaccessionid`), the panel's LOINC (HL7 OBR-4 coded LN, athena's `labresultloinc`; one
 * accession covers several panels) and the patient's ID (HL7 PID-3, athena's `patientid`; so two labs'
 * equal accession numbers never meet unless they are also for the same patient and panel).
 */
export interface ResultLinkKey {
  accession: string;
  panelLoinc: string;
  patientId: string;
}

/**
 * The keyed digest a link key is stored under. Its input is a five-element JSON array, which never
 * equals the input of {@link resultRef} (a three-element array, or the athena form, which is not an
 * array), so a link digest never collides with a result reference.
 */
export function resultLinkRef(secret: string, practiceId: string, key: ResultLinkKey): string {
  return createHmac('sha256', secret)
    .update(
      JSON.stringify([
        'link',
        practiceId,
        canonical(key.accession),
        canonical(key.panelLoinc),
        canonical(key.patientId),
      ]),
    )
    .digest('hex')
    .slice(0, RESULT_REF_HEX_CHARS);
}
