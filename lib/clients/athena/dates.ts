import { DateTime } from 'luxon';

/**
 * athena's date conventions. v1 query/form dates are `mm/dd/yyyy`; the changed-data feed's
 * `showprocessed*datetime` parameters are `mm/dd/yyyy hh24:mi:ss` in US Eastern time whatever the
 * practice's zone, so the conversion must go through America/New_York explicitly (never the process
 * zone, which is UTC on servers). Responses mix ISO-8601 with offsets and the same `mm/dd/yyyy` forms.
 */

export const ATHENA_TIME_ZONE = 'America/New_York';

const EASTERN_DATETIME_FORMAT = 'MM/dd/yyyy HH:mm:ss';
const ATHENA_DATE_FORMAT = 'MM/dd/yyyy';

/** An instant as athena's `mm/dd/yyyy hh24:mi:ss` Eastern wall-clock time (EST or EDT as applicable). */
export function formatAthenaEasternDateTime(instant: Date): string {
  const value = DateTime.fromJSDate(instant, { zone: ATHENA_TIME_ZONE });
  if (!value.isValid) throw new Error('cannot format an invalid date for athena');
  return value.toFormat(EASTERN_DATETIME_FORMAT);
}

/** `YYYY-MM-DD` (a calendar date, no zone) as athena's `mm/dd/yyyy`. */
export function formatAthenaDate(isoDate: string): string {
  const value = DateTime.fromFormat(isoDate, 'yyyy-MM-dd', { zone: 'UTC' });
  if (!value.isValid) throw new Error(`"${isoDate}" is not a YYYY-MM-DD date`);
  return value.toFormat(ATHENA_DATE_FORMAT);
}

/** athena's `mm/dd/yyyy` (e.g. a date of birth) as `YYYY-MM-DD`; undefined when unreadable. */
export function athenaDateToIsoDate(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const value = DateTime.fromFormat(text.trim(), ATHENA_DATE_FORMAT, { zone: 'UTC' });
  return value.isValid ? value.toFormat('yyyy-MM-dd') : undefined;
}

/**
 * A timestamp from an athena response as an ISO-8601 UTC string. Accepts ISO-8601 with an offset
 * (`2023-08-10T14:53:55-04:00`, the usual document form) and the Eastern wall-clock forms
 * `mm/dd/yyyy hh24:mi[:ss]`. Undefined when absent or unreadable, never a guess.
 */
export function athenaTimestampToIso(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  const iso = DateTime.fromISO(trimmed, { zone: ATHENA_TIME_ZONE, setZone: false });
  if (iso.isValid) return iso.toUTC().toISO() ?? undefined;
  for (const format of [EASTERN_DATETIME_FORMAT, 'MM/dd/yyyy HH:mm']) {
    const value = DateTime.fromFormat(trimmed, format, { zone: ATHENA_TIME_ZONE });
    if (value.isValid) return value.toUTC().toISO() ?? undefined;
  }
  return undefined;
}
