import type { LabloopActivities } from './contract';

export function createPatientZoneActivities(): Pick<LabloopActivities, 'resolvePatientZones'> {
  return {
    async resolvePatientZones({ patient, practiceTimeZone }) {
      return patient.timeZone !== undefined ? [patient.timeZone] : [practiceTimeZone];
    },
  };
}
