import { IANAZone } from 'luxon';
import { isOpen, nextOpening } from './business-calendar';
import type { BusinessCalendar, LocalTime } from './practice';

/**
 * The patient messaging window (TCPA quiet hours: 08:00–21:00 in the patient's own zone). When the
 * patient's zone is not known for sure, the caller passes every candidate zone (the practice's, the
 * one from the phone's area code, the one from the postal code) and a send is allowed only inside
 * the window in all of them at once. Pure and deterministic, like the business calendar it reuses:
 * each zone's window is a calendar open `start`–`end` every day, so DST and the conventions of
 * `business-calendar.ts` apply (the window is `[start, end)`; `end: '00:00'` means midnight).
 */

/** A daily local window, `[start, end)`. */
export interface PatientWindow {
  start: LocalTime;
  end: LocalTime;
}

/** The TCPA default; practices may narrow it (`PracticePolicy.patientQuietHours`). */
export const DEFAULT_PATIENT_WINDOW: Readonly<PatientWindow> = { start: '08:00', end: '21:00' };

/**
 * How far ahead a common window is sought. Zones whose windows meet only in one season (Phoenix and
 * Denver with a one-hour window meet only while Denver is on standard time) can push the answer
 * months out: a year (366 days) plus a month of margin covers every season, then we give up.
 */
export const MAX_WINDOW_SEARCH_DAYS = 400;

const DAY_MS = 24 * 60 * 60_000;
const LOCAL_TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/** The zones or the window are malformed. */
export class InvalidPatientWindowError extends Error {
  override readonly name = 'InvalidPatientWindowError';
}

/** No instant lies inside the window in every candidate zone (e.g. zones 12 hours apart, a short window). */
export class NoCommonSendWindowError extends Error {
  override readonly name = 'NoCommonSendWindowError';
}

function windowCalendars(zones: readonly string[], window: PatientWindow): BusinessCalendar[] {
  if (!Array.isArray(zones) || zones.length === 0) {
    throw new InvalidPatientWindowError('zones must list at least one IANA time zone');
  }
  zones.forEach((zone, i) => {
    if (typeof zone !== 'string' || !IANAZone.isValidZone(zone)) {
      throw new InvalidPatientWindowError(`zones[${i}] ${JSON.stringify(zone)} is not an IANA time zone`);
    }
  });
  if (typeof window !== 'object' || window === null) {
    throw new InvalidPatientWindowError('window must be an object { start, end }');
  }
  const { start, end } = window;
  if (typeof start !== 'string' || !LOCAL_TIME.test(start)) {
    throw new InvalidPatientWindowError(`window.start must be HH:mm, got ${JSON.stringify(start)}`);
  }
  const endsAtMidnight = end === '00:00' || end === '24:00';
  if (typeof end !== 'string' || (!endsAtMidnight && !LOCAL_TIME.test(end))) {
    throw new InvalidPatientWindowError(`window.end must be HH:mm, got ${JSON.stringify(end)}`);
  }
  if (!endsAtMidnight && end <= start) {
    throw new InvalidPatientWindowError(`window.end ${end} must be after window.start ${start} (no overnight windows)`);
  }
  const everyDay = [1, 2, 3, 4, 5, 6, 7].map((weekday) => ({ weekday, open: start, close: end }));
  return [...new Set<string>(zones)].map((timeZone): BusinessCalendar => ({
    timeZone,
    hours: everyDay,
    closedDates: [],
  }));
}

/** Whether `atIso` is inside the window in every zone of `zones`. */
export function isInsidePatientWindow(atIso: string, zones: readonly string[], window: PatientWindow): boolean {
  return windowCalendars(zones, window).every((cal) => isOpen(atIso, cal));
}

/**
 * The earliest instant ≥ `atIso` inside the window in every zone: `atIso` itself (normalised to UTC)
 * when already inside; 22:10 in a single zone gives 08:00 the next morning, 07:00 gives 08:00 the same
 * day. Throws {@link NoCommonSendWindowError} when the windows never meet within
 * {@link MAX_WINDOW_SEARCH_DAYS}.
 */
export function nextPatientSendTime(atIso: string, zones: readonly string[], window: PatientWindow): string {
  const calendars = windowCalendars(zones, window);
  // nextOpening validates atIso and normalises it, so candidates compare as strings.
  let candidate = nextOpening(atIso, calendars[0]);
  const horizonMs = Date.parse(candidate) + MAX_WINDOW_SEARCH_DAYS * DAY_MS;
  // Each round moves to the latest of the zones' next openings. Nothing skipped can qualify: it was
  // outside the window in the zone that opens latest. Every round passes at least one zone's daily
  // opening, so (zones × days) rounds bound the loop even before the horizon check.
  for (let round = 0; round <= calendars.length * (MAX_WINDOW_SEARCH_DAYS + 1); round += 1) {
    let latest = candidate;
    for (const cal of calendars) {
      const opening = nextOpening(candidate, cal);
      if (Date.parse(opening) > Date.parse(latest)) latest = opening;
    }
    if (latest === candidate) return candidate;
    if (Date.parse(latest) > horizonMs) break;
    candidate = latest;
  }
  throw new NoCommonSendWindowError(
    `no time inside ${window.start}–${window.end} in all of ${zones.length} zones within ${MAX_WINDOW_SEARCH_DAYS} days`,
  );
}
