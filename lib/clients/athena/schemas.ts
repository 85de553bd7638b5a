import { z } from 'zod';

/**
 * zod schemas for the athena v1 responses the client reads. athena is inconsistent across endpoints:
 * IDs arrive as numbers or strings, booleans as `true`, `"true"`, `"1"` or `"Y"`, numbers as strings,
 * absent values as `null` or `""`. The schemas normalise all of that once here, and every object is loose
 * so fields athena adds later pass through untouched.
 */

/** `null` and `""` mean "not there" in athena responses. */
function optional<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === null || value === '' ? undefined : value), schema.optional());
}

/** IDs: numbers in some endpoints, strings in others; always a string here. */
export const athenaId = z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String);

/** Free text that is sometimes sent as a number (e.g. an analyte `value` of 250). */
export const athenaText = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const TRUE_TEXTS: ReadonlySet<string> = new Set(['true', '1', 'y', 'yes', 't']);

/** Booleans: `true`, `"true"`, `"1"`, `1`, `"Y"`. Anything else is false. */
export const athenaBoolean = z
  .union([z.boolean(), z.number(), z.string()])
  .transform((value) => (typeof value === 'boolean' ? value : TRUE_TEXTS.has(String(value).trim().toLowerCase())));

/** Counts: numbers or digit strings. */
export const athenaCount = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)]).transform(Number);

export const TokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: optional(athenaCount),
  token_type: optional(athenaText),
});

export const ErrorBodySchema = z.looseObject({
  error: optional(athenaText),
  detailedmessage: optional(athenaText),
  errormessage: optional(athenaText),
  message: optional(athenaText),
});

export const AnalyteSchema = z.looseObject({
  analyteid: optional(athenaId),
  analytename: optional(athenaText),
  loinc: optional(athenaText),
  observationidentifier: optional(athenaText),
  value: optional(athenaText),
  units: optional(athenaText),
  referencerange: optional(athenaText),
  abnormalflag: optional(athenaText),
  resultstatus: optional(athenaText),
  note: optional(athenaText),
  analytedatetime: optional(athenaText),
});
export type AthenaAnalyte = z.output<typeof AnalyteSchema>;

/**
 * A lab-result document, as the document endpoint, the chart list and the changed feed return it
 * (the list forms send `isreviewedbyprovider` as "1"/"0", the document form as a boolean).
 */
export const LabResultDocumentSchema = z.looseObject({
  labresultid: athenaId,
  patientid: optional(athenaId),
  departmentid: optional(athenaId),
  providerid: optional(athenaId),
  providerusername: optional(athenaText),
  documentclass: optional(athenaText),
  documentsource: optional(athenaText),
  status: optional(athenaText),
  resultstatus: optional(athenaText),
  reportstatus: optional(athenaText),
  isreviewedbyprovider: optional(athenaBoolean),
  description: optional(athenaText),
  labresultloinc: optional(athenaText),
  /** The performing lab's accession number for an interface result (the lab's own order number). */
  externalaccessionid: optional(athenaText),
  performinglabname: optional(athenaText),
  priority: optional(athenaText),
  createddatetime: optional(athenaText),
  lastmodifieddatetime: optional(athenaText),
  lastmodifieduser: optional(athenaText),
  observationdatetime: optional(athenaText),
  portalpublisheddatetime: optional(athenaText),
  patientnote: optional(athenaText),
  internalnote: optional(athenaText),
  notefromlab: optional(athenaText),
  labresultnote: optional(athenaText),
  exactduplicatedocumentid: optional(athenaId),
  supersededdocumentid: optional(athenaId),
  observations: optional(z.array(AnalyteSchema)),
  analytes: optional(z.array(AnalyteSchema)),
});
export type AthenaLabResultDocument = z.output<typeof LabResultDocumentSchema>;

/** Single-document GETs answer with a one-element array; accept a bare object too. */
export function oneOf<T extends z.ZodType>(schema: T) {
  return z
    .union([z.array(schema).min(1, 'athena returned an empty list'), schema])
    .transform((value): z.output<T> => (Array.isArray(value) ? value[0] : value));
}

export const LabResultListSchema = z.looseObject({
  results: z.array(LabResultDocumentSchema).default([]),
  totalcount: optional(athenaCount),
});

export const ChangedLabResultsSchema = z.looseObject({
  labresults: z.array(LabResultDocumentSchema).default([]),
  totalcount: optional(athenaCount),
});

const PortalStatusSchema = z.looseObject({
  registered: optional(athenaBoolean),
  status: optional(athenaText),
  noportal: optional(athenaBoolean),
});

export const PatientRecordSchema = z.looseObject({
  patientid: athenaId,
  firstname: optional(athenaText),
  lastname: optional(athenaText),
  dob: optional(athenaText),
  mobilephone: optional(athenaText),
  homephone: optional(athenaText),
  zip: optional(athenaText),
  language6392code: optional(athenaText),
  portalstatus: optional(z.union([PortalStatusSchema, athenaText])),
  portalaccessgiven: optional(athenaBoolean),
  consenttotext: optional(athenaBoolean),
  departmentid: optional(athenaId),
  primarydepartmentid: optional(athenaId),
  status: optional(athenaText),
});

export const SuccessSchema = z.looseObject({
  success: optional(athenaBoolean),
  errormessage: optional(athenaText),
});

export const SubscriptionSchema = z.looseObject({
  status: athenaText,
  subscriptions: optional(z.array(z.looseObject({ eventname: athenaText }))),
});

export const PatientCaseCreatedSchema = z.looseObject({
  patientcaseid: optional(athenaId),
  success: optional(athenaBoolean),
  errormessage: optional(athenaText),
});

export const PatientCaseSchema = z.looseObject({
  patientcaseid: athenaId,
  patientid: optional(athenaId),
  departmentid: optional(athenaId),
  subject: optional(athenaText),
  internalnote: optional(athenaText),
  status: optional(athenaText),
  priority: optional(athenaText),
  outboundonly: optional(athenaBoolean),
  callbacknumber: optional(athenaText),
  callbacknumbertype: optional(athenaText),
  providerid: optional(athenaId),
  assignedto: optional(athenaText),
  documentsource: optional(athenaText),
  documentsubclass: optional(athenaText),
  createddatetime: optional(athenaText),
  lastmodifieddatetime: optional(athenaText),
});

/** The patient-case list's envelope is not documented publicly: accept a bare array or a named list. */
export const PatientCaseListSchema = z.union([
  z.array(PatientCaseSchema),
  z
    .looseObject({
      patientcases: optional(z.array(PatientCaseSchema)),
      results: optional(z.array(PatientCaseSchema)),
    })
    .transform((value) => value.patientcases ?? value.results ?? []),
]);

/** Names the fields that failed, never their values (responses carry PHI). */
export function describeSchemaIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length === 0 ? '(root)' : issue.path.join('.')}: ${issue.code}`)
    .join('; ');
}
