import type { ActivityDeps } from './deps';
import type { LabloopActivities } from './contract';
import { notImplemented } from './not-implemented';

export function createAthenaActivities(_deps: ActivityDeps): Pick<LabloopActivities, 'postPortalNote' | 'createCallTask'> {
  return {
    postPortalNote: () => notImplemented('postPortalNote'),
    createCallTask: () => notImplemented('createCallTask'),
  };
}
