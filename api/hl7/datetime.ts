/**
 * HL7 v2 DTM/TS/DT values (`YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`) to ISO-8601 text.
 * The sender's precision is kept (a date stays a date) and so is its zone offset; without an
 * offset the result is a local (floating) time, because HL7 leaves the zone to the sender's site.
 */

const DTM = /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;

/** Hours and minutes an offset may have: UTC-12:00 .. UTC+14:00 are the zones in use. */
const MAX_OFFSET_MINUTES = 14 * 60;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Parses an HL7 date/time (the first component of a TS is the DTM). Returns `undefined` for text
 * that is not a real date/time (month 13, 30 February, offset +2500 ...).
 *
 * @returns `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DDTHH:mm:ss[.sss][±HH:mm]`.
 */
export function parseHl7DateTime(text: string): string | undefined {
  const m = DTM.exec(text.trim());
  if (m === null) return undefined;
  const [, year, month, day, hour, minute, second, fraction, offset] = m;
  if (year === undefined) return undefined;
  if (month === undefined) return year;
  const monthNumber = Number(month);
  if (monthNumber < 1 || monthNumber > 12) return undefined;
  if (day === undefined) return `${year}-${month}`;
  const dayNumber = Number(day);
  if (dayNumber < 1 || dayNumber > daysInMonth(Number(year), monthNumber)) return undefined;
  const date = `${year}-${month}-${day}`;
  // An offset on a bare date says nothing useful about the date itself.
  if (hour === undefined) return date;
  if (Number(hour) > 23 || Number(minute ?? '0') > 59 || Number(second ?? '0') > 59) return undefined;
  let iso = `${date}T${hour}:${minute ?? '00'}:${second ?? '00'}`;
  // JavaScript dates hold milliseconds: a fourth fractional digit is dropped, not rounded.
  if (fraction !== undefined) iso += `.${fraction.slice(0, 3).padEnd(3, '0')}`;
  if (offset !== undefined) {
    const offsetHours = Number(offset.slice(1, 3));
    const offsetMinutes = Number(offset.slice(3, 5));
    if (offsetMinutes > 59 || offsetHours * 60 + offsetMinutes > MAX_OFFSET_MINUTES) return undefined;
    iso += `${offset.slice(0, 3)}:${offset.slice(3, 5)}`;
  }
  return iso;
}

/** An HL7 date (or the date part of a date/time) as `YYYY-MM-DD`; `undefined` if partial or invalid. */
export function parseHl7Date(text: string): string | undefined {
  const iso = parseHl7DateTime(text);
  if (iso === undefined || iso.length < 10) return undefined;
  return iso.slice(0, 10);
}

/** `now` as an HL7 DTM in UTC with an explicit offset, e.g. `20240305143000+0000` (for MSH-7). */
export function formatHl7DateTime(now: Date): string {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return (
    `${pad(now.getUTCFullYear(), 4)}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}` +
    `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}+0000`
  );
}
