import { createHash } from 'node:crypto';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { normaliseResultStatus } from '../../../domain/classification';
import type { LabResult, Observation, PatientContact, ResultStatus } from '../../../domain/lab-result';
import type { StaffMember } from '../../../domain/practice';
import type { AthenaPatient } from './client';
import { athenaTimestampToIso } from './dates';
import type { AthenaAnalyte, AthenaLabResultDocument } from './schemas';

/**
 * athena lab-result document + patient record → the shared `LabResult`. Acuity is not decided here:
 * `abnormalflag` text ("ABNORMAL", "CRITICAL HIGH") is passed through as the observation flag for
 * domain/classification.ts, which knows athena's vocabulary.
 */

export interface MapAthenaLabResultInput {
  practiceId: string;
  document: AthenaLabResultDocument;
  patient: AthenaPatient;
  /** The practice's staff from the registry: who may sign, and who is known not to be a provider. */
  staff: readonly StaffMember[];
}

/**
 * The registry provider an athena review is attributed to, or why it is not a sign-off.
 *
 * athena says *that* a provider reviewed (`isreviewedbyprovider`) but not who: results route to the
 * document's provider (`providerid`, `providerusername`), so that provider is the reviewer, and must
 * be a provider of the practice in the registry (by `athenaProviderId`, NPI or staff ID, or by athena
 * username). Never a sign-off: a document that is only CLOSED (staff close documents too), one whose
 * provider is not a registry provider, and one last modified by a registry member who is not a
 * provider (a medical assistant's edit leaves no trace of whether a provider saw that version).
 * `lastmodifieduser` never names the signer. Users unknown to the registry (athena's interface, our
 * own API user) are not people of the practice and do not veto.
 */
export function athenaReviewer(
  document: AthenaLabResultDocument,
  staff: readonly StaffMember[],
): { providerId: string } | { refused: string } {
  if (document.isreviewedbyprovider !== true) return { refused: 'isreviewedbyprovider is not set' };
  const modifiedBy = document.lastmodifieduser;
  const editor =
    modifiedBy === undefined
      ? undefined
      : staff.find((s) => s.athenaUsername !== undefined && s.athenaUsername === modifiedBy);
  if (editor !== undefined && editor.role !== 'provider') {
    return { refused: `lastmodifieduser is practice ${editor.role} ${editor.id}, not a provider` };
  }
  const providers = staff.filter((s) => s.role === 'provider');
  const { providerid, providerusername } = document;
  const byId =
    providerid === undefined
      ? undefined
      : providers.find((s) => s.athenaProviderId === providerid || s.npi === providerid || s.id === providerid);
  const byUsername =
    providerusername === undefined ? undefined : providers.find((s) => s.athenaUsername === providerusername);
  if (byId !== undefined && byUsername !== undefined && byId.id !== byUsername.id) {
    return { refused: 'providerid and providerusername name different providers' };
  }
  const reviewer = byId ?? byUsername;
  if (reviewer === undefined) return { refused: "the document's provider is not a provider of the practice" };
  return { providerId: reviewer.id };
}

/**
 * Version marker: a digest of what a patient notification depends on (statuses, review state and every
 * analyte), not `lastmodifieddatetime`. Our own writes (patient note, action note) bump athena's
 * modification time without changing the result; a digest keeps those re-deliveries recognisable as the
 * same version, while a correction or a sign-off is a new one.
 */
function versionMarker(document: AthenaLabResultDocument, analytes: AthenaAnalyte[], signedOff: boolean): string {
  const relevant = {
    status: document.status ?? null,
    resultstatus: document.resultstatus ?? null,
    reportstatus: document.reportstatus ?? null,
    signedOff,
    analytes: analytes.map((a) => [
      a.analyteid ?? null,
      a.loinc ?? a.observationidentifier ?? null,
      a.analytename ?? null,
      a.value ?? null,
      a.units ?? null,
      a.referencerange ?? null,
      a.abnormalflag ?? null,
      a.resultstatus ?? null,
      a.note ?? null,
    ]),
  };
  const digest = createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 32);
  return `athena-${document.labresultid}-${digest}`;
}

/**
 * The document's status. `resultstatus`/`reportstatus` are free text; when both are missing, the analytes
 * decide only if they all agree (otherwise preliminary: an unknown status is never announced).
 */
function resultStatus(
  document: AthenaLabResultDocument,
  analytes: AthenaAnalyte[],
): { status: ResultStatus; raw?: string } {
  const raw = document.resultstatus ?? document.reportstatus;
  if (raw !== undefined) return { status: normaliseResultStatus(raw), raw };
  const perAnalyte = analytes.map((a) =>
    a.resultstatus === undefined ? undefined : normaliseResultStatus(a.resultstatus),
  );
  const first = perAnalyte[0];
  if (first !== undefined && perAnalyte.every((s) => s === first)) return { status: first };
  return { status: 'preliminary' };
}

function toObservation(analyte: AthenaAnalyte): Observation {
  const code = analyte.loinc ?? analyte.observationidentifier ?? analyte.analyteid ?? analyte.analytename ?? 'unknown';
  const flag = analyte.abnormalflag?.trim();
  return {
    code,
    name: analyte.analytename ?? code,
    value: analyte.value ?? '',
    units: analyte.units,
    referenceRange: analyte.referencerange,
    flag: flag === undefined || flag === '' ? undefined : flag,
    status: analyte.resultstatus,
    comments: analyte.note === undefined ? undefined : [analyte.note],
  };
}

function e164(phone: string | undefined): string | undefined {
  if (phone === undefined) return undefined;
  const parsed = parsePhoneNumberFromString(phone, 'US');
  return parsed?.isValid() === true ? parsed.number : undefined;
}

function toContact(patient: AthenaPatient): PatientContact {
  return {
    id: patient.patientId,
    firstName: patient.firstName,
    lastName: patient.lastName,
    birthDate: patient.birthDate,
    // Only the mobile number: a home phone may be a landline that cannot receive texts.
    mobilePhone: e164(patient.mobilePhone),
    postalCode: patient.zip?.trim().slice(0, 5),
    language: patient.language,
    portalActive: patient.portalActive,
  };
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Maps one athena lab-result document (document, list or changed-feed form) to a `LabResult`. */
export function mapAthenaLabResult({ practiceId, document, patient, staff }: MapAthenaLabResultInput): LabResult {
  if (document.patientid !== undefined && document.patientid !== patient.patientId) {
    throw new Error('lab result document and patient record belong to different patients');
  }
  const analytes = document.observations ?? document.analytes ?? [];
  const { status, raw } = resultStatus(document, analytes);
  const review = athenaReviewer(document, staff);
  const signer = 'providerId' in review ? review.providerId : undefined;
  const comments = [document.notefromlab, document.labresultnote].filter((c): c is string => c !== undefined);

  return withoutUndefined<LabResult>({
    source: 'athena',
    practiceId,
    resultId: document.labresultid,
    messageId: versionMarker(document, analytes, signer !== undefined),
    reportedAt: athenaTimestampToIso(
      document.lastmodifieddatetime ?? document.observationdatetime ?? document.createddatetime,
    ),
    status,
    rawStatus: raw,
    panelName: document.description,
    panelCode: document.labresultloinc,
    patient: withoutUndefined(toContact(patient)),
    orderingProvider: document.providerid === undefined ? undefined : { id: document.providerid },
    departmentId: document.departmentid ?? patient.departmentId,
    observations: analytes.map((a) => withoutUndefined(toObservation(a))),
    comments: comments.length === 0 ? undefined : comments,
    // No `at`: athena does not say when the provider reviewed. lastmodifieddatetime is when the
    // document last changed (a correction included), so a flag left over from the version before
    // would look as new as the correction. Undated, it never signs a correction (the workflow asks
    // for a review-app sign-off then); on a first version it still counts.
    signedOff: signer === undefined ? undefined : { providerId: signer },
  });
}
