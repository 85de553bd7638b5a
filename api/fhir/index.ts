/** FHIR R4 ingestion: zod schemas for the fields we read and the mapping to LabResults. */
export { mapFhirToResults, type FhirProblem, type MapFhirOptions, type MapFhirOutcome } from './map';
export {
  BundleSchema,
  DiagnosticReportSchema,
  ObservationSchema,
  PatientSchema,
  PractitionerSchema,
  type FhirBundle,
  type FhirDiagnosticReport,
  type FhirObservation,
  type FhirPatient,
  type FhirPractitioner,
} from './schemas';
