/**
 * The typed lab result every source (HL7 v2, FHIR R4, athenahealth REST) is mapped into.
 * Plain data only: it crosses the Temporal boundary as JSON (encrypted by the payload codec),
 * so dates are ISO-8601 strings and nothing here has methods.
 */

export const RESULT_SOURCES = ['hl7', 'fhir', 'athena'] as const;
export type ResultSource = (typeof RESULT_SOURCES)[number];

export const ACUITIES = ['normal', 'abnormal', 'critical'] as const;
export type Acuity = (typeof ACUITIES)[number];

export const RESULT_STATUSES = ['preliminary', 'final', 'corrected', 'cancelled'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

export interface Observation {
  /** Observation identifier (LOINC or the lab's local code). */
  code: string;
  /**
   * The LOINC code, when the source names one as such (HL7 OBX-3 coding system `LN`, FHIR
   * `http://loinc.org`): it may differ from `code`, which can be the lab's local code.
   */
  loinc?: string;
  /** Display name of the test. */
  name: string;
  /** The value as reported, text form (numbers keep the sender's precision; SN keeps its comparator). */
  value: string;
  /** HL7 value type (OBX-2) or the FHIR value[x] kind. */
  valueType?: string;
  units?: string;
  referenceRange?: string;
  /** Abnormal flag(s) as sent (HL7 table 0078 code, FHIR interpretation code, or athena text). */
  flag?: string;
  /** Per-observation status (HL7 table 0085), raw. */
  status?: string;
  comments?: string[];
}

export interface PatientContact {
  /** Internal patient identifier at the practice (PID-3 / athena patientid). Never logged. */
  id: string;
  firstName?: string;
  lastName?: string;
  /** YYYY-MM-DD */
  birthDate?: string;
  /** E.164 mobile number when known. */
  mobilePhone?: string;
  postalCode?: string;
  /** IANA zone, when known (else derived from the postal code or the practice's zone). */
  timeZone?: string;
  /** BCP-47 language tag, e.g. "en", "es". */
  language?: string;
  /** Whether the patient has an active portal account. */
  portalActive?: boolean;
}

export interface ProviderRef {
  id: string;
  name?: string;
}

export interface SourceSignOff {
  /** Provider who reviewed the result in the source system. */
  providerId: string;
  /** ISO timestamp when the source says it was reviewed, if given. */
  at?: string;
}

/** One lab result (one OBR group / DiagnosticReport / athena labresult document). */
export interface LabResult {
  source: ResultSource;
  practiceId: string;
  /** The source's identifier of this result (filler order number, DiagnosticReport id, labresultid). */
  resultId: string;
  /**
   * Who assigned `resultId` (HL7 OBR-3.2/3.3 or MSH-4, FHIR identifier.system, `athena`): part of the
   * result's identity, since two labs may use the same filler number. Absent: the source's default
   * (`athena` for athena, else the source name).
   */
  resultIdIssuer?: string;
  /** Identifies this version of the result (MSH-10, FHIR meta.versionId/event id, athena lastmodified). */
  messageId: string;
  /** When the source produced this version (ISO), if known. */
  reportedAt?: string;
  status: ResultStatus;
  /** Raw status as sent (OBR-25, FHIR status, athena resultstatus), kept for audit. */
  rawStatus?: string;
  /** Test panel name (OBR-4 text / DiagnosticReport.code). */
  panelName?: string;
  panelCode?: string;
  patient: PatientContact;
  orderingProvider?: ProviderRef;
  departmentId?: string;
  observations: Observation[];
  /** Order- or report-level comments (NTE after OBR, conclusion). */
  comments?: string[];
  /** Present when the source says a provider already reviewed (signed) the result. */
  signedOff?: SourceSignOff;
}
