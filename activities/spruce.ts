import type { ActivityDeps } from './deps';
import type { LabloopActivities } from './contract';
import { notImplemented } from './not-implemented';

export function createSpruceActivities(_deps: ActivityDeps): Pick<LabloopActivities, 'lookupSpruceContact' | 'sendSpruceResult' | 'pageStaff'> {
  return {
    lookupSpruceContact: () => notImplemented('lookupSpruceContact'),
    sendSpruceResult: () => notImplemented('sendSpruceResult'),
    pageStaff: () => notImplemented('pageStaff'),
  };
}
