/**
 * Local athenahealth fake for tests and the sandbox. Never imported by production code paths.
 */
export {
  DEFAULT_FAKE_PRACTICE_ID,
  startAthenaFake,
  type AthenaFake,
  type AthenaFakeControl,
  type AthenaFakeOptions,
  type RequestLogEntry,
} from './server';
export type {
  ActionNoteWrite,
  AnalyteSeed,
  FakeLabResult,
  FakePatient,
  FakePatientCase,
  LabResultPatch,
  LabResultSeed,
  PatientNoteWrite,
  PatientSeed,
  PortalPublicationMode,
} from './model';
export type { FailureRuleInput } from './failures';
export type { WebhookDelivery, WebhookTarget } from './webhook-sender';
