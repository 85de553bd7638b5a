import { z } from 'zod';

/**
 * zod schemas for the parts of FHIR R4 resources we read. Each is `.loose()`: FHIR servers send
 * far more than we use (extensions, narrative, profiles), and all of it must pass untouched.
 */

export const DIAGNOSTIC_REPORT_STATUSES = [
  'registered',
  'partial',
  'preliminary',
  'final',
  'amended',
  'corrected',
  'appended',
  'cancelled',
  'entered-in-error',
  'unknown',
] as const;

export const OBSERVATION_STATUSES = [
  'registered',
  'preliminary',
  'final',
  'amended',
  'corrected',
  'cancelled',
  'entered-in-error',
  'unknown',
] as const;

export const CodingSchema = z.object({ system: z.string(), code: z.string(), display: z.string() }).partial().loose();

export const CodeableConceptSchema = z
  .object({ coding: z.array(CodingSchema), text: z.string() })
  .partial()
  .loose();

export const IdentifierSchema = z
  .object({ system: z.string(), value: z.string(), type: CodeableConceptSchema })
  .partial()
  .loose();

export const ReferenceSchema = z
  .object({ reference: z.string(), display: z.string(), type: z.string(), identifier: IdentifierSchema })
  .partial()
  .loose();

export const QuantitySchema = z
  .object({ value: z.number(), comparator: z.string(), unit: z.string(), system: z.string(), code: z.string() })
  .partial()
  .loose();

export const RangeSchema = z.object({ low: QuantitySchema, high: QuantitySchema }).partial().loose();

export const RatioSchema = z.object({ numerator: QuantitySchema, denominator: QuantitySchema }).partial().loose();

export const HumanNameSchema = z
  .object({ use: z.string(), text: z.string(), family: z.string(), given: z.array(z.string()) })
  .partial()
  .loose();

export const ContactPointSchema = z
  .object({ system: z.string(), value: z.string(), use: z.string(), rank: z.number() })
  .partial()
  .loose();

export const AddressSchema = z.object({ use: z.string(), postalCode: z.string() }).partial().loose();

const MetaSchema = z.object({ versionId: z.string(), lastUpdated: z.string() }).partial().loose();

export const PatientSchema = z
  .object({
    resourceType: z.literal('Patient'),
    id: z.string().optional(),
    identifier: z.array(IdentifierSchema).optional(),
    name: z.array(HumanNameSchema).optional(),
    birthDate: z
      .string()
      .regex(/^\d{4}(-\d{2}(-\d{2})?)?$/, 'must be a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)')
      .optional(),
    telecom: z.array(ContactPointSchema).optional(),
    address: z.array(AddressSchema).optional(),
    communication: z
      .array(z.object({ language: CodeableConceptSchema, preferred: z.boolean().optional() }).loose())
      .optional(),
  })
  .loose();

export const PractitionerSchema = z
  .object({
    resourceType: z.literal('Practitioner'),
    id: z.string().optional(),
    identifier: z.array(IdentifierSchema).optional(),
    name: z.array(HumanNameSchema).optional(),
  })
  .loose();

export const ObservationSchema = z
  .object({
    resourceType: z.literal('Observation'),
    id: z.string().optional(),
    status: z.enum(OBSERVATION_STATUSES),
    code: CodeableConceptSchema,
    valueQuantity: QuantitySchema.optional(),
    valueString: z.string().optional(),
    valueCodeableConcept: CodeableConceptSchema.optional(),
    valueRange: RangeSchema.optional(),
    valueRatio: RatioSchema.optional(),
    valueInteger: z.number().int().optional(),
    valueBoolean: z.boolean().optional(),
    valueDateTime: z.string().optional(),
    valueTime: z.string().optional(),
    interpretation: z.array(CodeableConceptSchema).optional(),
    referenceRange: z
      .array(z.object({ low: QuantitySchema, high: QuantitySchema, text: z.string() }).partial().loose())
      .optional(),
    note: z.array(z.object({ text: z.string() }).loose()).optional(),
  })
  .loose();

export const DiagnosticReportSchema = z
  .object({
    resourceType: z.literal('DiagnosticReport'),
    id: z.string().optional(),
    meta: MetaSchema.optional(),
    identifier: z.array(IdentifierSchema).optional(),
    status: z.enum(DIAGNOSTIC_REPORT_STATUSES),
    code: CodeableConceptSchema,
    subject: ReferenceSchema.optional(),
    issued: z.string().optional(),
    effectiveDateTime: z.string().optional(),
    performer: z.array(ReferenceSchema).optional(),
    resultsInterpreter: z.array(ReferenceSchema).optional(),
    result: z.array(ReferenceSchema).optional(),
    conclusion: z.string().optional(),
    /** Parsed one by one by resourceType, so an unknown contained type does not fail the report. */
    contained: z.array(z.object({ resourceType: z.string(), id: z.string().optional() }).loose()).optional(),
  })
  .loose();

export const BundleSchema = z
  .object({
    resourceType: z.literal('Bundle'),
    id: z.string().optional(),
    type: z.string().optional(),
    entry: z
      .array(
        z
          .object({
            fullUrl: z.string().optional(),
            resource: z.object({ resourceType: z.string(), id: z.string().optional() }).loose().optional(),
          })
          .loose(),
      )
      .optional(),
  })
  .loose();

export type FhirCodeableConcept = z.infer<typeof CodeableConceptSchema>;
export type FhirQuantity = z.infer<typeof QuantitySchema>;
export type FhirReference = z.infer<typeof ReferenceSchema>;
export type FhirHumanName = z.infer<typeof HumanNameSchema>;
export type FhirPatient = z.infer<typeof PatientSchema>;
export type FhirPractitioner = z.infer<typeof PractitionerSchema>;
export type FhirObservation = z.infer<typeof ObservationSchema>;
export type FhirDiagnosticReport = z.infer<typeof DiagnosticReportSchema>;
export type FhirBundle = z.infer<typeof BundleSchema>;
export type DiagnosticReportStatus = (typeof DIAGNOSTIC_REPORT_STATUSES)[number];
