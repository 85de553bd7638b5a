import { DateTime } from 'luxon';
import type { LabResult, Observation } from '../../../domain/lab-result';
import type { PracticePolicy } from '../../../domain/practice';
import { sandboxPolicy } from '../../fixtures/results';

/**
 * Results and policies for workflow tests. Values are distinctive ("187.3", "6.9") so a PHI check
 * can look for them in logs, audit rows and query answers without tripping over timestamps or IDs.
 */

export const ZONE = 'America/New_York';

/** The sandbox practice's policy (Mon–Fri 08:00–17:00 New York, 4 h / 1 h SLAs), with overrides. */
export function testPolicy(overrides: Partial<PracticePolicy> = {}): PracticePolicy {
  return { ...sandboxPolicy(), ...overrides };
}

/** The policy with extra closed dates (holidays) added to its calendar. */
export function withHolidays(policy: PracticePolicy, dates: string[]): PracticePolicy {
  return { ...policy, calendar: { ...policy.calendar, closedDates: [...policy.calendar.closedDates, ...dates] } };
}

let counter = 0;
/** A unique message ID (every new version of a result needs one). */
export function messageId(label = 'MSG'): string {
  counter += 1;
  return `${label}-${Date.now().toString(36)}-${counter}`;
}

const normalObservations: Observation[] = [
  { code: '2345-7', name: 'Glucose', value: '104.6', units: 'mg/dL', referenceRange: '70-140', flag: 'N' },
  { code: '2160-0', name: 'Creatinine', value: '0.93', units: 'mg/dL', referenceRange: '0.6-1.2' },
];

/** A final, unsigned, normal result for the sandbox practice. */
export function normalResult(overrides: Partial<LabResult> = {}): LabResult {
  return {
    source: 'hl7',
    practiceId: '195900',
    resultId: `ACC-${messageId('R')}`,
    messageId: messageId(),
    status: 'final',
    panelName: 'Basic metabolic panel',
    panelCode: '51990-0',
    patient: {
      id: 'MRN-500',
      firstName: 'Dana',
      lastName: 'Whitfield',
      mobilePhone: '+16175550123',
      birthDate: '1980-04-02',
      timeZone: ZONE,
    },
    orderingProvider: { id: 'prov-1' },
    observations: normalObservations.map((o) => ({ ...o })),
    ...overrides,
  };
}

export function abnormalResult(overrides: Partial<LabResult> = {}): LabResult {
  return normalResult({
    panelName: 'Lipid panel',
    panelCode: '57698-3',
    observations: [
      { code: '13457-7', name: 'LDL cholesterol', value: '187.3', units: 'mg/dL', referenceRange: '<100', flag: 'H' },
    ],
    ...overrides,
  });
}

export function criticalResult(overrides: Partial<LabResult> = {}): LabResult {
  return normalResult({
    panelName: 'Potassium',
    panelCode: '2823-3',
    observations: [
      { code: '2823-3', name: 'Potassium', value: '6.9', units: 'mmol/L', referenceRange: '3.5-5.1', flag: 'HH' },
    ],
    ...overrides,
  });
}

/** A new version of `result`: same result ID, new message ID, the given changes. */
export function newVersion(result: LabResult, changes: Partial<LabResult> = {}): LabResult {
  return { ...result, messageId: messageId('V'), ...changes };
}

/** Strings from a result that must never appear outside PHI-bearing channels. */
export function phiStrings(result: LabResult): string[] {
  const p = result.patient;
  return [
    p.firstName,
    p.lastName,
    p.mobilePhone,
    p.birthDate,
    result.panelName,
    // Short numbers ("6.9", "0.93") also occur inside timestamps; only distinctive values are checked.
    ...result.observations.flatMap((o) => [
      o.name,
      /^\d{3,}(\.\d+)?$/.test(o.value) || /^\D{3,}$/.test(o.value) ? o.value : undefined,
    ]),
  ].filter((s): s is string => s !== undefined && s !== '');
}

/**
 * The next instant strictly after `afterMs` at local `time` (HH:mm) on ISO `weekday` in `zone`.
 * Used to start scenarios at a chosen wall-clock moment on the time-skipping server.
 */
export function nextLocal(afterMs: number, weekday: number, time: string, zone = ZONE): DateTime {
  const [h, m] = time.split(':').map(Number);
  let candidate = DateTime.fromMillis(afterMs, { zone }).set({ hour: h, minute: m, second: 0, millisecond: 0 });
  while (candidate.weekday !== weekday || candidate.toMillis() <= afterMs) {
    candidate = candidate.plus({ days: 1 }).set({ hour: h, minute: m, second: 0, millisecond: 0 });
  }
  return candidate;
}

/** `YYYY-MM-DD` of a local date-time. */
export function isoDate(dt: DateTime): string {
  return dt.toISODate() ?? '';
}
