import { DateTime } from 'luxon';
import type { FakeLabResult, FakePatient, FakePatientCase } from './model';

/**
 * athena's JSON, with its inconsistencies kept on purpose so the client's normalisation is exercised:
 * single documents come back as one-element arrays, `labresultid` is a number while `departmentid` is a
 * string, `isreviewedbyprovider` is a boolean in the document form and "1"/"0" in the list forms, and
 * timestamps are ISO-8601 with the Eastern offset next to `mm/dd/yyyy` dates.
 */

const EASTERN = 'America/New_York';

export function easternIso(at: Date): string {
  return DateTime.fromJSDate(at, { zone: EASTERN }).toISO({ suppressMilliseconds: true }) ?? at.toISOString();
}

export function easternDate(at: Date): string {
  return DateTime.fromJSDate(at, { zone: EASTERN }).toFormat('MM/dd/yyyy');
}

function dropUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

function asNumber(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

export function patientJson(patient: FakePatient, showPortalStatus: boolean): Record<string, unknown> {
  const [year, month, day] = patient.dob.split('-');
  return dropUndefined({
    patientid: patient.patientId,
    firstname: patient.firstName,
    lastname: patient.lastName,
    dob: `${month}/${day}/${year}`,
    mobilephone: patient.mobilePhone,
    homephone: patient.homePhone,
    zip: patient.zip,
    language6392code: patient.language6392code,
    departmentid: patient.departmentId,
    primarydepartmentid: patient.departmentId,
    consenttotext: patient.consentToText,
    portalaccessgiven: patient.portalRegistered,
    status: 'active',
    portalstatus: showPortalStatus
      ? {
          noportal: false,
          registered: patient.portalRegistered,
          status: patient.portalRegistered ? 'REGISTERED' : 'NOTREGISTERED',
          termsaccepted: patient.portalRegistered,
          entitytodisplay: 'PATIENT',
        }
      : undefined,
  });
}

function analyteJson(result: FakeLabResult): Record<string, unknown>[] {
  return result.analytes.map((analyte) =>
    dropUndefined({
      analyteid: analyte.analyteid,
      analytename: analyte.analytename,
      loinc: analyte.loinc,
      observationidentifier: analyte.loinc,
      value: analyte.value,
      units: analyte.units,
      referencerange: analyte.referencerange,
      abnormalflag: analyte.abnormalflag,
      resultstatus: analyte.resultstatus,
      note: analyte.note,
      analytedatetime: easternIso(result.createdAt),
    }),
  );
}

function commonLabResultFields(result: FakeLabResult): Record<string, unknown> {
  return {
    labresultid: Number(result.labResultId),
    departmentid: result.departmentId,
    providerid: asNumber(result.providerId),
    providerusername: result.providerUsername,
    documentclass: 'LABRESULT',
    documentsource: result.documentsource,
    documentroute: result.documentsource === 'INTERFACE' ? 'INTERFACE' : 'FAX',
    status: result.status,
    resultstatus: result.resultstatus,
    reportstatus: result.reportstatus,
    description: result.description,
    labresultloinc: result.labresultloinc,
    externalaccessionid: result.externalAccessionId,
    performinglabname: result.performingLabName,
    priority: result.priority,
    createddatetime: easternIso(result.createdAt),
    createddate: easternDate(result.createdAt),
    lastmodifieddatetime: easternIso(result.modifiedAt),
    lastmodifieddate: easternDate(result.modifiedAt),
    lastmodifieduser: result.lastModifiedUser,
    observationdatetime: easternIso(result.createdAt),
    patientnote: result.patientNote,
    internalnote: result.internalNote,
    exactduplicatedocumentid: asNumber(result.duplicateOf),
    supersededdocumentid: asNumber(result.supersedes),
  };
}

/** `GET /patients/{patientid}/documents/labresult/{labresultid}`: the document form. */
export function labResultDocumentJson(result: FakeLabResult): Record<string, unknown> {
  return dropUndefined({
    ...commonLabResultFields(result),
    isreviewedbyprovider: result.reviewed,
    portalpublisheddatetime: result.portalPublishedAt === undefined ? undefined : easternIso(result.portalPublishedAt),
    observations: analyteJson(result),
    // Interface results: structured analytes, no pages and no PDF.
    pages: [],
  });
}

/** `GET /chart/{patientid}/labresults`: list form with `analytes[]`. */
export function labResultChartJson(result: FakeLabResult): Record<string, unknown> {
  return dropUndefined({
    ...commonLabResultFields(result),
    patientid: Number(result.patientId),
    isreviewedbyprovider: result.reviewed ? '1' : '0',
    labresultdatetime: easternIso(result.createdAt),
    analytes: analyteJson(result),
  });
}

/** `GET /labresults/changed`: list form without analytes (the consumer inflates the document). */
export function labResultChangedJson(result: FakeLabResult): Record<string, unknown> {
  return dropUndefined({
    ...commonLabResultFields(result),
    patientid: Number(result.patientId),
    isreviewedbyprovider: result.reviewed ? '1' : '0',
  });
}

export function patientCaseJson(patientCase: FakePatientCase): Record<string, unknown> {
  return dropUndefined({
    patientcaseid: Number(patientCase.patientCaseId),
    patientid: Number(patientCase.patientId),
    departmentid: patientCase.departmentId,
    documentclass: 'PATIENTCASE',
    documentsource: patientCase.documentSource,
    documentsubclass: patientCase.documentSubclass,
    subject: patientCase.subject,
    internalnote: patientCase.internalNote,
    priority: patientCase.priority,
    outboundonly: patientCase.outboundOnly,
    callbacknumber: patientCase.callbackNumber,
    callbacknumbertype: patientCase.callbackNumberType,
    callbackname: patientCase.callbackName,
    providerid: asNumber(patientCase.providerId),
    status: patientCase.status,
    assignedto: patientCase.assignedTo,
    createddatetime: easternIso(patientCase.createdAt),
    lastmodifieddatetime: easternIso(patientCase.modifiedAt),
  });
}
