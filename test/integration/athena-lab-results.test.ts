import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { classifyAcuity } from '../../domain/classification';
import type { LabResult } from '../../domain/lab-result';
import { mapAthenaLabResult, type AthenaClient } from '../../lib/clients/athena';
import { loadPracticeRegistry } from '../../lib/practices';
import type { AnalyteSeed, AthenaFake, LabResultSeed } from '../../sandbox/fakes/athena';
import { athenaClientOfFake, startAthenaTestFake } from '../support/athena';

/**
 * Reading lab results and patients from the athena fake and mapping them to `LabResult`; the writes
 * back (patient note + portal publication, patient cases, action notes); the fake's control API.
 */

const PRACTICE = '195900';
/** The sandbox registry's staff: athena provider 71 is prov-1 ("achen"), "mlee" is a medical assistant. */
const STAFF = loadPracticeRegistry('config/practices.sandbox.json').policy(PRACTICE)?.staff ?? [];

const CBC: AnalyteSeed[] = [
  {
    analytename: 'WBC',
    loinc: '6690-2',
    value: '6.1',
    units: 'K/uL',
    referencerange: '4.0-10.5',
    abnormalflag: '',
    resultstatus: 'Final',
  },
  {
    analytename: 'Hemoglobin',
    loinc: '718-7',
    value: '14.2',
    units: 'g/dL',
    referencerange: '13.5-17.5',
    resultstatus: 'Final',
  },
];

void describe('athena lab results, patients and writes', () => {
  let fake: AthenaFake;
  let athena: AthenaClient;
  let patientId: string;

  const fetchMapped = async (labResultId: string): Promise<LabResult> => {
    const [document, patient] = await Promise.all([
      athena.getLabResult({ practiceId: PRACTICE, patientId, labResultId }),
      athena.getPatient({ practiceId: PRACTICE, patientId }),
    ]);
    return mapAthenaLabResult({ practiceId: PRACTICE, document, patient, staff: STAFF });
  };

  const seed = (overrides: Partial<LabResultSeed>) =>
    fake.control.addLabResult({
      practiceId: PRACTICE,
      patientId,
      providerId: '71',
      resultstatus: 'Final',
      description: 'CBC with differential',
      labresultloinc: '58410-2',
      analytes: CBC,
      ...overrides,
    }).labResultId;

  before(async () => {
    fake = await startAthenaTestFake();
    athena = athenaClientOfFake(fake, { now: () => fake.control.now().getTime() });
    patientId = fake.control.addPatient({
      practiceId: PRACTICE,
      firstName: 'Maria',
      lastName: 'Alvarez',
      dob: '1961-04-23',
      mobilePhone: '6175550123',
      homePhone: '6175550199',
      zip: '02139-4307',
      language6392code: 'spa',
      portalRegistered: true,
      consentToText: true,
    }).patientId;
  });
  after(() => fake.close());
  beforeEach(() => {
    fake.control.clearFailures();
    fake.control.setPortalPublication({ mode: 'immediate' });
  });

  void describe('mapping to LabResult', () => {
    void it('maps a normal, final CBC with the patient contact normalised', async () => {
      const labResultId = seed({});
      const result = await fetchMapped(labResultId);
      assert.equal(result.source, 'athena');
      assert.equal(result.practiceId, PRACTICE);
      assert.equal(result.resultId, labResultId);
      assert.equal(result.status, 'final');
      assert.equal(result.rawStatus, 'Final');
      assert.equal(result.panelName, 'CBC with differential');
      assert.equal(result.panelCode, '58410-2');
      assert.equal(result.departmentId, '1');
      assert.deepEqual(result.orderingProvider, { id: '71' });
      assert.equal(result.signedOff, undefined, 'not reviewed yet');
      assert.match(result.messageId, new RegExp(`^athena-${labResultId}-[0-9a-f]{32}$`));
      assert.ok(result.reportedAt !== undefined && !Number.isNaN(Date.parse(result.reportedAt)));
      assert.deepEqual(result.patient, {
        id: patientId,
        firstName: 'Maria',
        lastName: 'Alvarez',
        birthDate: '1961-04-23',
        mobilePhone: '+16175550123',
        postalCode: '02139',
        language: 'es',
        portalActive: true,
      });
      assert.equal(classifyAcuity(result.observations), 'normal');
      assert.deepEqual(result.observations, [
        { code: '6690-2', name: 'WBC', value: '6.1', units: 'K/uL', referenceRange: '4.0-10.5', status: 'Final' },
        {
          code: '718-7',
          name: 'Hemoglobin',
          value: '14.2',
          units: 'g/dL',
          referenceRange: '13.5-17.5',
          status: 'Final',
        },
      ]);
    });

    void it('passes athena flag text through: "ABNORMAL" is abnormal', async () => {
      const result = await fetchMapped(
        seed({
          description: 'Lipid panel',
          analytes: [
            {
              analytename: 'LDL cholesterol',
              loinc: '13457-7',
              value: '182',
              units: 'mg/dL',
              referencerange: '<100',
              abnormalflag: 'ABNORMAL',
            },
            { analytename: 'HDL cholesterol', loinc: '2085-9', value: '51', units: 'mg/dL', referencerange: '>40' },
          ],
        }),
      );
      assert.equal(result.observations[0]?.flag, 'ABNORMAL');
      assert.equal(result.observations[1]?.flag, undefined);
      assert.equal(classifyAcuity(result.observations), 'abnormal');
    });

    void it('passes athena flag text through: "CRITICAL HIGH" is critical', async () => {
      const result = await fetchMapped(
        seed({
          description: 'Basic metabolic panel',
          analytes: [
            {
              analytename: 'Potassium',
              loinc: '2823-3',
              value: '6.8',
              units: 'mmol/L',
              referencerange: '3.5-5.1',
              abnormalflag: 'CRITICAL HIGH',
              note: 'Called to Dr. office 09:12',
            },
            { analytename: 'Sodium', loinc: '2951-2', value: '139', units: 'mmol/L', referencerange: '135-145' },
          ],
        }),
      );
      assert.equal(result.observations[0]?.flag, 'CRITICAL HIGH');
      assert.deepEqual(result.observations[0]?.comments, ['Called to Dr. office 09:12']);
      assert.equal(classifyAcuity(result.observations), 'critical');
    });

    void it("a provider's review in athena becomes signedOff by the registry provider, and is a new version", async () => {
      const labResultId = seed({});
      const before = await fetchMapped(labResultId);
      fake.control.signOff(labResultId, '71', 'achen');
      const after = await fetchMapped(labResultId);
      assert.equal(after.signedOff?.providerId, 'prov-1');
      // athena does not say when the review happened: undated, it never signs a correction.
      assert.equal(after.signedOff?.at, undefined);
      assert.notEqual(after.messageId, before.messageId);
    });

    void it('a review by a provider the registry does not know does not sign', async () => {
      const labResultId = seed({ providerId: '88' });
      fake.control.signOff(labResultId, '88');
      assert.equal(fake.control.labResult(labResultId).reviewed, true);
      assert.equal((await fetchMapped(labResultId)).signedOff, undefined);
    });

    void it('a CLOSED document without a provider review does not sign, whoever closed it', async () => {
      for (const byUser of ['mlee', 'achen', undefined]) {
        const labResultId = seed({});
        fake.control.closeLabResult(labResultId, 'Reviewed, normal', byUser);
        const result = await fetchMapped(labResultId);
        assert.equal(result.status, 'final');
        assert.equal(result.signedOff, undefined, `closed by ${String(byUser)}`);
      }
    });

    void it('a reviewed document last modified by a staff user does not sign', async () => {
      const labResultId = seed({});
      fake.control.signOff(labResultId, '71', 'achen');
      fake.control.editByUser(labResultId, 'mlee', 'Called the patient');
      const document = await athena.getLabResult({ practiceId: PRACTICE, patientId, labResultId });
      assert.equal(document.isreviewedbyprovider, true);
      assert.equal(document.lastmodifieduser, 'mlee');
      assert.equal(document.providerusername, 'achen');
      assert.equal((await fetchMapped(labResultId)).signedOff, undefined);
    });

    void it('a correction maps to status corrected with a new version marker', async () => {
      const labResultId = seed({});
      const original = await fetchMapped(labResultId);
      fake.control.updateLabResult(labResultId, {
        resultstatus: 'Corrected',
        analytes: [{ ...CBC[0], analytename: 'WBC', value: '11.9', abnormalflag: 'HIGH' }, CBC[1]],
      });
      const corrected = await fetchMapped(labResultId);
      assert.equal(corrected.status, 'corrected');
      assert.equal(corrected.rawStatus, 'Corrected');
      assert.notEqual(corrected.messageId, original.messageId);
      assert.equal(classifyAcuity(corrected.observations), 'abnormal');
    });

    void it('free-text statuses: "complete" is final, "Preliminary" and unknown text are preliminary', async () => {
      assert.equal((await fetchMapped(seed({ resultstatus: 'complete' }))).status, 'final');
      assert.equal((await fetchMapped(seed({ resultstatus: 'Preliminary' }))).status, 'preliminary');
      assert.equal((await fetchMapped(seed({ resultstatus: 'Pending review' }))).status, 'preliminary');
    });

    void it('without a document status the analytes decide only when they agree', async () => {
      const agreeing = await fetchMapped(seed({ resultstatus: undefined }));
      assert.equal(agreeing.status, 'final');
      const mixed = await fetchMapped(
        seed({
          resultstatus: undefined,
          analytes: [CBC[0], { ...CBC[1], analytename: 'Hemoglobin', resultstatus: 'Pending' }],
        }),
      );
      assert.equal(mixed.status, 'preliminary');
    });

    void it("our own patient-note write changes athena's modified time but not the version marker", async () => {
      const labResultId = seed({});
      const before = await fetchMapped(labResultId);
      await athena.updateLabResultPatientNote({
        practiceId: PRACTICE,
        patientId,
        labResultId,
        note: 'Your results are ready.',
      });
      const after = await fetchMapped(labResultId);
      assert.equal(after.messageId, before.messageId);
    });

    void it('a patient with only a home phone gets no mobile number; portal and language follow the record', async () => {
      const other = fake.control.addPatient({
        practiceId: PRACTICE,
        firstName: 'Sam',
        lastName: 'Okafor',
        dob: '1990-12-01',
        homePhone: '6175550142',
        portalRegistered: false,
      });
      const patient = await athena.getPatient({ practiceId: PRACTICE, patientId: other.patientId });
      assert.equal(patient.portalActive, false);
      assert.equal(patient.portalStatus, 'NOTREGISTERED');
      assert.equal(patient.consentToText, false);
      assert.equal(patient.homePhone, '6175550142');
      const labResultId = fake.control.addLabResult({
        practiceId: PRACTICE,
        patientId: other.patientId,
        resultstatus: 'Final',
      }).labResultId;
      const document = await athena.getLabResult({ practiceId: PRACTICE, patientId: other.patientId, labResultId });
      const result = mapAthenaLabResult({ practiceId: PRACTICE, document, patient, staff: STAFF });
      assert.equal(result.patient.mobilePhone, undefined);
      assert.equal(result.patient.portalActive, false);
      assert.deepEqual(result.observations, []);
    });

    void it('refuses to pair a document with another patient', async () => {
      const labResultId = seed({});
      const list = await athena.listPatientLabResults({ practiceId: PRACTICE, patientId, departmentId: '1' });
      const document = list.results.find((r) => r.labresultid === labResultId);
      assert.ok(document !== undefined);
      const stranger = { patientId: '424242' };
      assert.throws(
        () => mapAthenaLabResult({ practiceId: PRACTICE, document, patient: stranger, staff: STAFF }),
        /different patients/,
      );
    });
  });

  void describe('reads', () => {
    void it("getPatient normalises athena's record", async () => {
      const patient = await athena.getPatient({ practiceId: PRACTICE, patientId });
      assert.deepEqual(patient, {
        patientId,
        firstName: 'Maria',
        lastName: 'Alvarez',
        birthDate: '1961-04-23',
        mobilePhone: '6175550123',
        homePhone: '6175550199',
        zip: '02139-4307',
        language: 'es',
        portalStatus: 'REGISTERED',
        portalActive: true,
        consentToText: true,
        departmentId: '1',
        primaryDepartmentId: '1',
      });
    });

    void it("lists a patient's lab results with analytes, hiding exact duplicates on request", async () => {
      const original = seed({ description: 'TSH' });
      const duplicate = seed({ description: 'TSH', duplicateOf: original });
      const corrected = seed({ description: 'TSH', supersedes: original, resultstatus: 'Corrected' });
      const all = await athena.listPatientLabResults({ practiceId: PRACTICE, patientId, departmentId: '1' });
      const ids = all.results.map((r) => r.labresultid);
      assert.ok([original, duplicate, corrected].every((id) => ids.includes(id)));
      assert.equal(all.totalCount, all.results.length);
      const listed = all.results.find((r) => r.labresultid === corrected);
      assert.equal(listed?.supersededdocumentid, original);
      assert.equal(listed?.analytes?.length, 2);
      const deduplicated = await athena.listPatientLabResults({
        practiceId: PRACTICE,
        patientId,
        departmentId: '1',
        hideDuplicates: true,
      });
      assert.ok(!deduplicated.results.some((r) => r.labresultid === duplicate));
      await assert.rejects(
        athena.listPatientLabResults({ practiceId: PRACTICE, patientId, departmentId: '1', startDate: '03/01/2024' }),
        /startDate must be a YYYY-MM-DD date/,
      );
    });

    void it('a document under the wrong patient is not found', async () => {
      const labResultId = seed({});
      const other = fake.control.addPatient({ practiceId: PRACTICE, firstName: 'X', lastName: 'Y', dob: '2000-01-01' });
      await assert.rejects(athena.getLabResult({ practiceId: PRACTICE, patientId: other.patientId, labResultId }), {
        kind: 'not-found',
      });
    });
  });

  void describe('writes', () => {
    void it('writes the patient note (form-encoded) and sees it published to the portal', async () => {
      const labResultId = seed({});
      const ref = { practiceId: PRACTICE, patientId, labResultId };
      assert.deepEqual(await athena.getPortalPublication(ref), { published: false, publishedAt: undefined });
      await athena.updateLabResultPatientNote({ ...ref, note: 'Your results are normal. – Dr. Chen' });
      await athena.updateLabResultPatientNote({ ...ref, note: 'Call us with questions.' });
      assert.equal(
        fake.control.labResult(labResultId).patientNote,
        'Your results are normal. – Dr. Chen\nCall us with questions.',
      );
      const publication = await athena.getPortalPublication(ref);
      assert.equal(publication.published, true);
      assert.ok(publication.publishedAt !== undefined && !Number.isNaN(Date.parse(publication.publishedAt)));
    });

    void it('publication can lag, or never happen, so verification can fail', async () => {
      fake.control.setPortalPublication({ mode: 'delayed', delayMs: 10 * 60_000 });
      const delayed = { practiceId: PRACTICE, patientId, labResultId: seed({}) };
      await athena.updateLabResultPatientNote({ ...delayed, note: 'Results ready' });
      assert.equal((await athena.getPortalPublication(delayed)).published, false);
      fake.control.advanceTime(11 * 60_000);
      assert.equal((await athena.getPortalPublication(delayed)).published, true);

      fake.control.setPortalPublication({ mode: 'never' });
      const never = { practiceId: PRACTICE, patientId, labResultId: seed({}) };
      await athena.updateLabResultPatientNote({ ...never, note: 'Results ready' });
      fake.control.advanceTime(60 * 60_000);
      assert.equal((await athena.getPortalPublication(never)).published, false);
    });

    void it('creates, reads and assigns an outbound-call patient case with every field kept', async () => {
      const marker = 'LL-c4se0001';
      const { patientCaseId } = await athena.createPatientCase({
        practiceId: PRACTICE,
        patientId,
        departmentId: '1',
        subject: `Critical lab value: call patient [${marker}]`,
        internalNote: `Critical result, call within 30 minutes. ref ${marker}`,
        priority: 1,
        outboundOnly: true,
        callbackNumber: '+16175550123',
        providerId: '71',
        documentSource: 'PORTAL',
        documentSubclass: 'PATIENTCASE_LABS',
      });
      const stored = fake.control.patientCases().find((c) => c.patientCaseId === patientCaseId);
      assert.deepEqual(stored?.fields, {
        departmentid: '1',
        documentsource: 'PORTAL',
        documentsubclass: 'PATIENTCASE_LABS',
        subject: `Critical lab value: call patient [${marker}]`,
        internalnote: `Critical result, call within 30 minutes. ref ${marker}`,
        priority: '1',
        outboundonly: 'true',
        callbacknumber: '6175550123',
        providerid: '71',
      });
      await athena.assignPatientCase({ practiceId: PRACTICE, patientId, patientCaseId, username: 'nurse.Kim' });
      const read = await athena.getPatientCase({ practiceId: PRACTICE, patientId, patientCaseId });
      assert.equal(read.patientCaseId, patientCaseId);
      assert.equal(read.outboundOnly, true);
      assert.equal(read.priority, '1');
      assert.equal(read.assignedTo, 'nurse.Kim');
      assert.equal(read.status, 'REVIEW');
      assert.equal(read.callbackNumber, '6175550123');
      assert.equal(read.providerId, '71');
    });

    void it('has no idempotency: the same case posted twice is two cases', async () => {
      const input = {
        practiceId: PRACTICE,
        patientId,
        departmentId: '1',
        subject: 'Call patient [LL-dup00001]',
        internalNote: 'ref LL-dup00001',
        priority: 2 as const,
        outboundOnly: true as const,
        documentSource: 'PORTAL',
        documentSubclass: 'PATIENTCASE_LABS',
      };
      const first = await athena.createPatientCase(input);
      const second = await athena.createPatientCase(input);
      assert.notEqual(first.patientCaseId, second.patientCaseId);
      const found = await athena.findPatientCases({
        practiceId: PRACTICE,
        patientId,
        departmentId: '1',
        marker: 'LL-dup00001',
      });
      assert.equal(found.length, 2);
    });

    void it('adds an action note to the lab result', async () => {
      const labResultId = seed({});
      await athena.addLabResultActionNote({
        practiceId: PRACTICE,
        labResultId,
        note: 'Patient notified by secure message',
      });
      assert.deepEqual(
        fake.control
          .actionNotes()
          .filter((n) => n.labResultId === labResultId)
          .map((n) => n.note),
        ['Patient notified by secure message'],
      );
    });
  });

  void describe('fake control over HTTP and the HTML page', () => {
    void it('seeds through /__fake/ and names the bad field in a refused seed', async () => {
      const created = await fetch(`${fake.url}/__fake/patients`, {
        method: 'POST',
        body: JSON.stringify({ practiceId: PRACTICE, firstName: 'Http', lastName: 'Seed', dob: '1988-08-08' }),
      });
      assert.equal(created.status, 200);
      const { patientId: seededId } = (await created.json()) as { patientId: string };
      const labResult = await fetch(`${fake.url}/__fake/labresults`, {
        method: 'POST',
        body: JSON.stringify({
          practiceId: PRACTICE,
          patientId: seededId,
          resultstatus: 'Final',
          analytes: [{ analytename: 'A1c', value: '9.1', abnormalflag: 'HIGH' }],
        }),
      });
      assert.equal(labResult.status, 200);
      const refused = await fetch(`${fake.url}/__fake/patients`, {
        method: 'POST',
        body: JSON.stringify({ practiceId: PRACTICE, firstName: 'Bad', lastName: 'Dob', dob: '08/08/1988' }),
      });
      assert.equal(refused.status, 400);
      assert.match(JSON.stringify(await refused.json()), /dob: must be YYYY-MM-DD/);
    });

    void it('GET / lists patient notes, cases and action notes', async () => {
      const labResultId = seed({});
      await athena.updateLabResultPatientNote({
        practiceId: PRACTICE,
        patientId,
        labResultId,
        note: 'Note <for> portal',
      });
      await athena.addLabResultActionNote({ practiceId: PRACTICE, labResultId, note: 'Action-note-marker' });
      const page = await fetch(`${fake.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      const html = await page.text();
      assert.match(html, /Note &lt;for&gt; portal/);
      assert.match(html, /Action-note-marker/);
      assert.match(html, /LL-c4se0001/);
    });
  });
});
