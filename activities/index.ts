import type { LabloopActivities } from '../domain/activity-contract';
import type { ActivityDeps } from './deps';
import { createAthenaActivities } from './athena';
import type { AthenaIngestActivities } from '../domain/athena-ingest-contract';
import { createAthenaIngestActivitiesFrom } from './athena-ingest';
import { createAuditActivities } from './audit';
import { createCalendarActivities } from './calendar';
import { createConsentActivities } from './consent';
import { createOnCallActivities } from './on-call';
import { createPatientZoneActivities } from './patient-zones';
import { createPriorRunActivities } from './prior-runs';
import { createReviewItemActivities } from './review-items';
import { createSmsActivities } from './sms';
import { createSpruceActivities } from './spruce';
import { createStaffSmsPageActivities } from './staff-sms-page';

/** Every activity the worker registers, built from injected dependencies (tests pass fakes). */
export function createActivities(deps: ActivityDeps): LabloopActivities & AthenaIngestActivities {
  return {
    ...createAuditActivities(deps),
    ...createConsentActivities(deps),
    ...createPatientZoneActivities(),
    ...createSmsActivities(deps),
    ...createSpruceActivities(deps),
    ...createStaffSmsPageActivities(deps),
    ...createAthenaActivities(deps),
    ...createReviewItemActivities(deps),
    ...createAthenaIngestActivitiesFrom(deps),
    ...createCalendarActivities(),
    ...createOnCallActivities(),
    ...createPriorRunActivities(deps),
  };
}

export type Activities = LabloopActivities;
export type { ActivityDeps } from './deps';
export type * from '../domain/activity-contract';
