/**
 * athenahealth client: REST calls, OAuth, retries, mapping to `LabResult`, and webhook verification.
 * Import from here; the other modules are implementation detail.
 */
export {
  createAthenaClient,
  DEFAULT_ATHENA_SCOPE,
  DEFAULT_REQUESTS_PER_SECOND,
  DEFAULT_TIMEOUT_MS,
  type AthenaClient,
  type AthenaClientOptions,
  type AthenaPatient,
  type AthenaPatientCase,
  type AthenaPortalPublication,
  type CreatePatientCaseInput,
  type LabResultRef,
  type ListChangedLabResultsInput,
  type PatientRef,
  type PracticeRef,
} from './client';
export { AthenaError, ATHENA_ERROR_KINDS, isAthenaError, type AthenaErrorKind } from './errors';
export { ATHENA_TIME_ZONE, formatAthenaDate, formatAthenaEasternDateTime, athenaTimestampToIso } from './dates';
export { mapAthenaLabResult, type MapAthenaLabResultInput } from './mapping';
export type { AthenaAnalyte, AthenaLabResultDocument } from './schemas';
export type { AthenaAttempt } from './transport';
export {
  AthenaWebhookParseError,
  parseAthenaWebhook,
  signAthenaWebhookBody,
  verifyAthenaWebhookSignature,
  type AthenaWebhookEvent,
  type AthenaWebhookNotification,
  type VerifyAthenaWebhookSignatureInput,
} from './webhook';
