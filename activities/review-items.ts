import type { ActivityDeps } from './deps';
import type { LabloopActivities } from './contract';
import { notImplemented } from './not-implemented';

export function createReviewItemActivities(_deps: ActivityDeps): Pick<LabloopActivities, 'upsertReviewItem'> {
  return {
    upsertReviewItem: () => notImplemented('upsertReviewItem'),
  };
}
