import { IANAZone } from 'luxon';
import { lookup as zoneOfZipCode } from 'zipcode-to-timezone';
import type { PatientContact } from '../domain/lab-result';
import { stateOfAreaCode } from './area-code-states';
import type { LabloopActivities } from '../domain/activity-contract';

/**
 * The patient's candidate time zones, for the TCPA messaging window (08:00–21:00 where the patient
 * is). The workflow sends only inside the intersection of every candidate's window, so a wrong extra
 * candidate costs a few hours of delay, while a missing one could text a patient at night: when in
 * doubt, add the candidate.
 *
 *  1. An explicit zone on record is the answer.
 *  2. Otherwise the ZIP code's zone (zipcode-to-timezone), plus the zones of the mobile number's area
 *     code (numbers are ported, so that is only an additional candidate).
 *  3. When the ZIP gives nothing (missing, unknown, foreign), the practice's zone is added too: most
 *     patients live near their practice.
 */

/** IANA zones of each US state and territory; states split between zones list every zone. */
export const STATE_ZONES: Readonly<Record<string, readonly string[]>> = {
  AK: ['America/Anchorage', 'America/Adak'],
  AL: ['America/Chicago'],
  AR: ['America/Chicago'],
  AS: ['Pacific/Pago_Pago'],
  AZ: ['America/Phoenix', 'America/Denver'], // the Navajo Nation keeps daylight saving time
  CA: ['America/Los_Angeles'],
  CO: ['America/Denver'],
  CT: ['America/New_York'],
  DC: ['America/New_York'],
  DE: ['America/New_York'],
  FL: ['America/New_York', 'America/Chicago'],
  GA: ['America/New_York'],
  GU: ['Pacific/Guam'],
  HI: ['Pacific/Honolulu'],
  IA: ['America/Chicago'],
  ID: ['America/Boise', 'America/Los_Angeles'],
  IL: ['America/Chicago'],
  IN: ['America/Indiana/Indianapolis', 'America/Chicago'],
  KS: ['America/Chicago', 'America/Denver'],
  KY: ['America/New_York', 'America/Chicago'],
  LA: ['America/Chicago'],
  MA: ['America/New_York'],
  MD: ['America/New_York'],
  ME: ['America/New_York'],
  MI: ['America/Detroit', 'America/Menominee'],
  MN: ['America/Chicago'],
  MO: ['America/Chicago'],
  MP: ['Pacific/Saipan'],
  MS: ['America/Chicago'],
  MT: ['America/Denver'],
  NC: ['America/New_York'],
  ND: ['America/Chicago', 'America/Denver'],
  NE: ['America/Chicago', 'America/Denver'],
  NH: ['America/New_York'],
  NJ: ['America/New_York'],
  NM: ['America/Denver'],
  NV: ['America/Los_Angeles'],
  NY: ['America/New_York'],
  OH: ['America/New_York'],
  OK: ['America/Chicago'],
  OR: ['America/Los_Angeles', 'America/Boise'],
  PA: ['America/New_York'],
  PR: ['America/Puerto_Rico'],
  RI: ['America/New_York'],
  SC: ['America/New_York'],
  SD: ['America/Chicago', 'America/Denver'],
  TN: ['America/Chicago', 'America/New_York'],
  TX: ['America/Chicago', 'America/Denver'],
  UT: ['America/Denver'],
  VA: ['America/New_York'],
  VI: ['America/St_Thomas'],
  VT: ['America/New_York'],
  WA: ['America/Los_Angeles'],
  WI: ['America/Chicago'],
  WV: ['America/New_York'],
  WY: ['America/Denver'],
};

function validZone(zone: string | undefined): string | undefined {
  return zone !== undefined && zone !== '' && IANAZone.isValidZone(zone) ? zone : undefined;
}

/** The zone of a US ZIP code (ZIP+4 and spaces accepted), if known. */
export function zoneOfPostalCode(postalCode: string | undefined): string | undefined {
  const zip = /^\s*(\d{5})(?:[-\s]?\d{4})?\s*$/.exec(postalCode ?? '')?.[1];
  return zip === undefined ? undefined : validZone(zoneOfZipCode(zip) ?? undefined);
}

/** The zones of a +1 number's area code (empty for non-US, toll-free or unknown codes). */
export function zonesOfPhone(phone: string | undefined): string[] {
  const areaCode = /^\+1([2-9]\d{2})\d{7}$/.exec(phone ?? '')?.[1];
  const state = areaCode === undefined ? undefined : stateOfAreaCode(areaCode);
  return state === undefined ? [] : [...(STATE_ZONES[state] ?? [])];
}

/** Candidate IANA zones for a patient, never empty. Pure: the same input always gives the same list. */
export function resolvePatientZoneCandidates(patient: PatientContact, practiceTimeZone: string): string[] {
  const explicit = validZone(patient.timeZone);
  if (explicit !== undefined) return [explicit];
  const fromZip = zoneOfPostalCode(patient.postalCode);
  const candidates = [fromZip, ...zonesOfPhone(patient.mobilePhone)];
  if (fromZip === undefined) candidates.push(practiceTimeZone);
  const unique = [...new Set(candidates.filter((z): z is string => z !== undefined))];
  return unique.length > 0 ? unique : [practiceTimeZone];
}

export function createPatientZoneActivities(): Pick<LabloopActivities, 'resolvePatientZones'> {
  return {
    resolvePatientZones({ patient, practiceTimeZone }) {
      return Promise.resolve(resolvePatientZoneCandidates(patient, practiceTimeZone));
    },
  };
}
