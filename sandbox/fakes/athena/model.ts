import { z } from 'zod';

/**
 * What the athena fake holds, and the seed inputs its control API accepts (zod-validated both when
 * called from code and over `/__fake/`, so a bad seed fails naming the field).
 */

const id = z.string().regex(/^[0-9]{1,12}$/, 'must be a numeric athena ID');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD');

export const PatientSeedSchema = z.object({
  practiceId: id,
  /** Assigned when omitted. */
  patientId: id.optional(),
  firstName: z.string().min(1),
  lastName: z.string().min(1),
  dob: isoDate,
  /** As athena stores it: 10 digits, no formatting. */
  mobilePhone: z.string().optional(),
  homePhone: z.string().optional(),
  zip: z.string().optional(),
  /** ISO 639-2, e.g. "eng", "spa". */
  language6392code: z.string().optional(),
  portalRegistered: z.boolean().default(true),
  consentToText: z.boolean().default(false),
  departmentId: id.default('1'),
});
export type PatientSeed = z.input<typeof PatientSeedSchema>;

export const AnalyteSeedSchema = z.object({
  analytename: z.string().min(1),
  loinc: z.string().optional(),
  value: z.string().optional(),
  units: z.string().optional(),
  referencerange: z.string().optional(),
  /** athena text, e.g. "ABNORMAL", "CRITICAL HIGH", or empty for normal. */
  abnormalflag: z.string().optional(),
  resultstatus: z.string().optional(),
  note: z.string().optional(),
});
export type AnalyteSeed = z.input<typeof AnalyteSeedSchema>;

export const LabResultSeedSchema = z.object({
  practiceId: id,
  patientId: id,
  /** Assigned when omitted. */
  labResultId: id.optional(),
  departmentId: id.optional(),
  providerId: id.optional(),
  description: z.string().optional(),
  labresultloinc: z.string().optional(),
  /**
   * The performing lab's accession number (`externalaccessionid`): what athena keeps of the lab's own
   * order number for an interface result, the same the lab sends labloop in OBR-3.
   */
  externalAccessionId: z.string().min(1).max(64).optional(),
  /** The performing lab's name (`performinglabname`). */
  performingLabName: z.string().min(1).max(100).optional(),
  /** Free text as labs send it ("Final", "Preliminary", "Corrected", "complete"…); absent when not given. */
  resultstatus: z.string().optional(),
  reportstatus: z.string().optional(),
  documentsource: z.string().default('INTERFACE'),
  priority: z.enum(['1', '2']).default('2'),
  status: z.enum(['REVIEW', 'CLOSED', 'HOLD']).default('REVIEW'),
  /**
   * The ordering provider (`providerId`) already reviewed the document in athena
   * (`isreviewedbyprovider`), as when a result arrives after its review; closing alone is not that.
   */
  reviewedByProvider: z.boolean().default(false),
  analytes: z.array(AnalyteSeedSchema).default([]),
  /** Marks this document an exact duplicate of an earlier one (`exactduplicatedocumentid`). */
  duplicateOf: id.optional(),
  /** Marks this document as superseding an earlier one (`supersededdocumentid`). */
  supersedes: id.optional(),
  /**
   * The document was already published to the portal at this time (ISO), e.g. with an older patient
   * note: a later note write is published anew (with a later time) only if the practice publishes.
   */
  portalPublishedAt: z.iso.datetime().optional(),
});
export type LabResultSeed = z.input<typeof LabResultSeedSchema>;

export const LabResultPatchSchema = z.object({
  resultstatus: z.string().optional(),
  reportstatus: z.string().optional(),
  description: z.string().optional(),
  analytes: z.array(AnalyteSeedSchema).optional(),
  providerId: id.optional(),
});
export type LabResultPatch = z.input<typeof LabResultPatchSchema>;

export interface FakePatient {
  practiceId: string;
  patientId: string;
  firstName: string;
  lastName: string;
  dob: string;
  mobilePhone?: string;
  homePhone?: string;
  zip?: string;
  language6392code?: string;
  portalRegistered: boolean;
  consentToText: boolean;
  departmentId: string;
}

export interface FakeAnalyte extends z.output<typeof AnalyteSeedSchema> {
  analyteid: number;
}

export interface FakeLabResult {
  practiceId: string;
  patientId: string;
  labResultId: string;
  departmentId: string;
  providerId?: string;
  /** The athena username of the document's provider (`providerusername`), once a provider reviewed it. */
  providerUsername?: string;
  description?: string;
  labresultloinc?: string;
  externalAccessionId?: string;
  performingLabName?: string;
  resultstatus?: string;
  reportstatus?: string;
  documentsource: string;
  priority: string;
  status: 'REVIEW' | 'CLOSED' | 'HOLD';
  reviewed: boolean;
  analytes: FakeAnalyte[];
  createdAt: Date;
  modifiedAt: Date;
  lastModifiedUser: string;
  patientNote?: string;
  patientNoteWrittenAt?: Date;
  portalPublishedAt?: Date;
  internalNote?: string;
  duplicateOf?: string;
  supersedes?: string;
}

export interface FakePatientCase {
  practiceId: string;
  patientId: string;
  patientCaseId: string;
  departmentId: string;
  documentSource: string;
  documentSubclass: string;
  subject?: string;
  internalNote?: string;
  priority: string;
  outboundOnly: boolean;
  callbackNumber?: string;
  callbackNumberType?: string;
  callbackName?: string;
  providerId?: string;
  status: 'REVIEW' | 'CLOSED';
  assignedTo?: string;
  createdAt: Date;
  modifiedAt: Date;
  /** Every form field as sent, so tests can see exactly what the client wrote. */
  fields: Record<string, string>;
}

export interface PatientNoteWrite {
  practiceId: string;
  patientId: string;
  labResultId: string;
  note: string;
  replace: boolean;
  at: string;
}

export interface ActionNoteWrite {
  practiceId: string;
  labResultId: string;
  note: string;
  at: string;
}

export type PortalPublicationMode =
  | { mode: 'immediate' }
  | { mode: 'delayed'; delayMs: number }
  /** athena never publishes (practice setting off): "verify it was published" must fail. */
  | { mode: 'never' };

export const LAB_RESULT_TOPICS = ['LabResult.create', 'LabResult.update', 'LabResult.close'] as const;
export type LabResultTopic = (typeof LAB_RESULT_TOPICS)[number];

/** A lab-result change, as both the changed feed and the webhook sender see it. */
export interface LabResultChange {
  topic: LabResultTopic;
  result: FakeLabResult;
  at: Date;
}
