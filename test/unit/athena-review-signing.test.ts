import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StaffMember } from '../../domain/practice';
import { athenaReviewer, mapAthenaLabResult } from '../../lib/clients/athena/mapping';
import { LabResultDocumentSchema } from '../../lib/clients/athena/schemas';

/**
 * Only athena's own "a provider reviewed this" (`isreviewedbyprovider`), attributed to a provider of the
 * practice in the registry, signs an athena result. CLOSED alone, a staff user's change, or a provider
 * the registry does not know never does.
 */

const STAFF: StaffMember[] = [
  { id: 'prov-1', name: 'Dr. A', role: 'provider', athenaUsername: 'achen', athenaProviderId: '71', npi: '1234567890' },
  { id: 'prov-2', name: 'Dr. B', role: 'provider', athenaUsername: 'jpatel' },
  { id: 'staff-1', name: 'MA', role: 'staff', athenaUsername: 'mlee' },
  { id: 'admin-1', name: 'Admin', role: 'administrator', athenaUsername: 'cbrooks' },
];

const document = (fields: Record<string, unknown>) =>
  LabResultDocumentSchema.parse({
    labresultid: 5001,
    patientid: '42',
    providerid: 71,
    status: 'REVIEW',
    resultstatus: 'Final',
    lastmodifieduser: 'INTERFACE',
    observations: [{ analytename: 'WBC', value: '6.1', resultstatus: 'Final' }],
    ...fields,
  });

const mapped = (fields: Record<string, unknown>) =>
  mapAthenaLabResult({ practiceId: 'p1', document: document(fields), patient: { patientId: '42' }, staff: STAFF });

void describe('athena review → sign-off', () => {
  void it("a provider's review signs, attributed to the registry provider by athena provider ID", () => {
    const result = mapped({ isreviewedbyprovider: true, lastmodifieduser: 'achen' });
    assert.deepEqual(result.signedOff, { providerId: 'prov-1' });
  });

  void it('the list forms\' "1" counts like true; "0" does not', () => {
    assert.equal(mapped({ isreviewedbyprovider: '1' }).signedOff?.providerId, 'prov-1');
    assert.equal(mapped({ isreviewedbyprovider: '0' }).signedOff, undefined);
  });

  void it('attributes by providerusername, NPI or staff ID too', () => {
    assert.equal(
      mapped({ isreviewedbyprovider: true, providerid: undefined, providerusername: 'jpatel' }).signedOff?.providerId,
      'prov-2',
    );
    assert.equal(mapped({ isreviewedbyprovider: true, providerid: '1234567890' }).signedOff?.providerId, 'prov-1');
  });

  void it('a CLOSED document without a provider review does not sign, whoever closed it', () => {
    for (const lastmodifieduser of ['mlee', 'achen', 'INTERFACE', undefined]) {
      const result = mapped({ status: 'CLOSED', isreviewedbyprovider: false, lastmodifieduser });
      assert.equal(result.signedOff, undefined, `closed by ${String(lastmodifieduser)}`);
    }
    assert.equal(mapped({ status: 'CLOSED' }).signedOff, undefined);
  });

  void it('a document last modified by a staff user (or an administrator) does not sign', () => {
    assert.equal(mapped({ isreviewedbyprovider: true, lastmodifieduser: 'mlee' }).signedOff, undefined);
    assert.equal(mapped({ isreviewedbyprovider: true, lastmodifieduser: 'cbrooks' }).signedOff, undefined);
    assert.match(
      JSON.stringify(athenaReviewer(document({ isreviewedbyprovider: true, lastmodifieduser: 'mlee' }), STAFF)),
      /staff staff-1, not a provider/,
    );
  });

  void it('lastmodifieduser never names the signer: without a registry provider on the document, no sign-off', () => {
    // Today's fallback (providerid ?? providerusername ?? lastmodifieduser) would have signed as "mlee".
    assert.equal(
      mapped({ isreviewedbyprovider: true, providerid: undefined, lastmodifieduser: 'achen' }).signedOff,
      undefined,
    );
    assert.equal(mapped({ isreviewedbyprovider: true, providerid: 999 }).signedOff, undefined);
    // A staff member's own athena ID or username on the document is not a provider.
    assert.equal(
      mapped({ isreviewedbyprovider: true, providerid: undefined, providerusername: 'mlee' }).signedOff,
      undefined,
    );
    assert.equal(mapped({ isreviewedbyprovider: true, providerid: 'staff-1' }).signedOff, undefined);
  });

  void it('providerid and providerusername naming two different providers do not sign', () => {
    assert.equal(mapped({ isreviewedbyprovider: true, providerusername: 'jpatel' }).signedOff, undefined);
  });

  void it('an unsigned and a signed reading of one document are different versions', () => {
    assert.notEqual(
      mapped({ isreviewedbyprovider: true }).messageId,
      mapped({ isreviewedbyprovider: false }).messageId,
    );
    // A staff edit does not turn into a sign-off version.
    assert.equal(
      mapped({ isreviewedbyprovider: true, lastmodifieduser: 'mlee' }).messageId,
      mapped({ isreviewedbyprovider: false, lastmodifieduser: 'mlee' }).messageId,
    );
  });
});
