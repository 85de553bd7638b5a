import { DateTime, IANAZone } from 'luxon';
import type { BusinessCalendar, OpeningHours } from './practice';

/**
 * Business-hours arithmetic for SLA deadlines: a practice's weekly opening hours and closed dates,
 * local to its IANA time zone. Pure and deterministic (no clock reads; luxon only with explicit
 * zones), so the workflow may call it; instants cross the boundary as ISO-8601 strings and come back
 * normalised to UTC with milliseconds (`2026-03-10T12:30:00.000Z`).
 *
 * Conventions, all deliberate:
 * - **Business minutes are elapsed minutes while open.** A day that is open 00:00–24:00 holds 1,380
 *   business minutes on the spring-forward day and 1,500 on the fall-back day.
 * - **Intervals are half-open** `[open, close)`: at the closing instant the practice is closed.
 * - **A deadline that lands exactly on a closing time stays there** (Friday 17:00, not Monday
 *   08:00). So for `minutes > 0` the instant just before a deadline is always business time, and the
 *   deadline itself is either open or exactly a closing instant. `addBusinessMinutes(s, 0)` is
 *   `nextOpening(s)`: a start outside hours counts from the next opening.
 * - **Midnight:** `close: '00:00'` (or `'24:00'`) means "until midnight at the end of that day";
 *   the practice registry's schema admits only 00:00–23:59, so configuration writes `'00:00'`.
 *   `'23:59'` means 23:59 (a one-minute gap), nothing more. An overnight shift is two entries
 *   (`22:00–00:00` on one weekday and `00:00–06:00` on the next); `close` before `open` is rejected.
 * - **Clock changes:** an opening or closing time that happens twice (fall-back) means its first
 *   occurrence; one that does not exist (spring-forward) means the moment clocks jump past it. The
 *   mapping from wall time to instants is therefore monotone, so splitting one interval in two at
 *   any time never changes an answer, and no interval can have negative length.
 * - Several entries for one weekday are allowed (a lunch closure is two entries); overlapping or
 *   touching entries are merged. Closed dates are local `YYYY-MM-DD` dates.
 *
 * Replay note: offsets come from the ICU time-zone data of the Node binary, so compute a deadline
 * once (or in an activity) and keep the answer rather than recomputing it across a Node upgrade.
 */

const MINUTE_MS = 60_000;
const MINUTES_PER_DAY = 24 * 60;
const DAY_MS = MINUTES_PER_DAY * MINUTE_MS;

/**
 * A calendar with no opening in this many consecutive days is misconfigured (every weekday with
 * hours is a closed date): a leap year of closures (366 days) plus a month of margin, then a
 * {@link CalendarSearchLimitError} instead of an endless walk.
 */
export const MAX_CLOSED_RUN_DAYS = 400;

/**
 * No answer walks further than ten years (10 × 365 + 3 leap days = 3,653 days): an SLA of that size
 * is a configuration error, and the bound keeps every loop finite.
 */
export const MAX_SPAN_DAYS = 3_653;

/** The calendar itself is unusable (bad zone, bad `HH:mm`, no opening hours, bad closed date). */
export class InvalidCalendarError extends Error {
  override readonly name = 'InvalidCalendarError';
}

/** A malformed instant or minute count. The message names the argument and never echoes an instant. */
export class InvalidTimeInputError extends Error {
  override readonly name = 'InvalidTimeInputError';
}

/** The answer lies beyond {@link MAX_CLOSED_RUN_DAYS} of closure or {@link MAX_SPAN_DAYS} of walking. */
export class CalendarSearchLimitError extends Error {
  override readonly name = 'CalendarSearchLimitError';
}

// ---------------------------------------------------------------------------------------------
// Parsing and validation

const LOCAL_TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
/**
 * An ISO-8601 instant in extended format that says which offset it is in: a bare local time would be
 * read in the process zone, which differs between a laptop, CI and the worker.
 */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;

/** Wall-clock minutes after local midnight, `[start, end)`, end up to 1,440. */
type MinuteRange = readonly [number, number];
/** Epoch milliseconds, `[start, end)`. */
type Interval = readonly [number, number];

interface CompiledCalendar {
  readonly timeZone: string;
  readonly zone: IANAZone;
  /** Index 1 (Monday) .. 7 (Sunday): sorted, merged wall-clock ranges. Index 0 unused. */
  readonly weekly: readonly (readonly MinuteRange[])[];
  /** Local day numbers (days since 1970-01-01 on the local calendar) that are closed. */
  readonly closedDays: ReadonlySet<number>;
}

function parseLocalMinutes(text: unknown, allowEndOfDay: boolean, where: string): number {
  if (allowEndOfDay && (text === '24:00' || text === '00:00')) return MINUTES_PER_DAY;
  const m = typeof text === 'string' ? LOCAL_TIME.exec(text) : null;
  if (m === null) throw new InvalidCalendarError(`${where} must be HH:mm (00:00–23:59), got ${JSON.stringify(text)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

function parseLocalDate(text: unknown, where: string): number {
  if (typeof text !== 'string' || !ISO_DATE.test(text)) {
    throw new InvalidCalendarError(`${where} must be a YYYY-MM-DD date, got ${JSON.stringify(text)}`);
  }
  const date = DateTime.fromISO(text, { zone: 'utc' });
  if (!date.isValid) throw new InvalidCalendarError(`${where} ${text} is not a calendar date`);
  return Math.round(date.toMillis() / DAY_MS);
}

function mergeRanges(ranges: MinuteRange[]): MinuteRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [open, close] of sorted) {
    const last = merged.at(-1);
    if (last !== undefined && open <= last[1]) last[1] = Math.max(last[1], close);
    else merged.push([open, close]);
  }
  return merged;
}

function compile(cal: BusinessCalendar): CompiledCalendar {
  if (typeof cal !== 'object' || cal === null) throw new InvalidCalendarError('calendar must be an object');
  if (typeof cal.timeZone !== 'string' || !IANAZone.isValidZone(cal.timeZone)) {
    throw new InvalidCalendarError(`calendar.timeZone ${JSON.stringify(cal.timeZone)} is not an IANA time zone`);
  }
  if (!Array.isArray(cal.hours) || cal.hours.length === 0) {
    throw new InvalidCalendarError(
      'calendar has no opening hours: add at least one { weekday, open, close } entry (a deadline could never be reached)',
    );
  }
  const byWeekday: MinuteRange[][] = [[], [], [], [], [], [], [], []];
  cal.hours.forEach((entry: OpeningHours, i) => {
    const where = `calendar.hours[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw new InvalidCalendarError(`${where} must be an object`);
    if (!Number.isInteger(entry.weekday) || entry.weekday < 1 || entry.weekday > 7) {
      throw new InvalidCalendarError(
        `${where}.weekday must be 1 (Monday) .. 7 (Sunday), got ${JSON.stringify(entry.weekday)}`,
      );
    }
    const open = parseLocalMinutes(entry.open, false, `${where}.open`);
    const close = parseLocalMinutes(entry.close, true, `${where}.close`);
    if (close <= open) {
      throw new InvalidCalendarError(
        `${where}: close ${entry.close} is not after open ${entry.open}; split an overnight shift into two entries ` +
          `(…–00:00 and 00:00–… on the next weekday)`,
      );
    }
    byWeekday[entry.weekday]?.push([open, close]);
  });
  const closedDates: unknown = cal.closedDates ?? [];
  if (!Array.isArray(closedDates)) throw new InvalidCalendarError('calendar.closedDates must be an array');
  const closedDays = new Set(closedDates.map((d: unknown, i) => parseLocalDate(d, `calendar.closedDates[${i}]`)));
  return {
    timeZone: cal.timeZone,
    zone: IANAZone.create(cal.timeZone),
    weekly: byWeekday.map(mergeRanges),
    closedDays,
  };
}

/**
 * Throws {@link InvalidCalendarError} naming the first thing wrong with `cal`; returns quietly
 * otherwise. Every function here validates too; call this to fail fast at configuration time.
 */
export function validateBusinessCalendar(cal: BusinessCalendar): void {
  compile(cal);
}

function parseInstant(iso: unknown, what: string): number {
  if (typeof iso !== 'string' || !ISO_INSTANT.test(iso.trim())) {
    throw new InvalidTimeInputError(`${what} must be an ISO-8601 instant ending in Z or an offset (±HH:mm)`);
  }
  const parsed = DateTime.fromISO(iso.trim(), { zone: 'utc' });
  if (!parsed.isValid) throw new InvalidTimeInputError(`${what} is not a valid ISO-8601 instant`);
  return parsed.toMillis();
}

function formatInstant(ms: number): string {
  const iso = DateTime.fromMillis(ms, { zone: 'utc' }).toISO();
  if (iso === null) throw new CalendarSearchLimitError('the answer is outside the representable date range');
  return iso;
}

// ---------------------------------------------------------------------------------------------
// Wall clock ↔ instants

function localDayOf(ms: number, zone: IANAZone): number {
  return Math.floor((ms + zone.offset(ms) * MINUTE_MS) / DAY_MS);
}

/** ISO weekday of a local day number: day 0 (1970-01-01) was a Thursday. */
function weekdayOf(day: number): number {
  return ((((day + 3) % 7) + 7) % 7) + 1;
}

function describeDay(day: number): string {
  return DateTime.fromMillis(day * DAY_MS, { zone: 'utc' }).toISODate() ?? String(day);
}

/**
 * The earliest instant at which the zone's wall clock reads `wallMs` (local time written as if it
 * were UTC) or later. Ambiguous (fall-back) times give their first occurrence; skipped
 * (spring-forward) times give the transition instant. Monotone in `wallMs`.
 */
function wallToInstant(zone: IANAZone, wallMs: number): number {
  // UTC offsets are within ±14 h and zones change offset at most once in two days, so the offsets a
  // day either side are the only candidates.
  const before = zone.offset(wallMs - DAY_MS);
  const after = zone.offset(wallMs + DAY_MS);
  let best = Number.POSITIVE_INFINITY;
  for (const offset of new Set([before, zone.offset(wallMs), after])) {
    const candidate = wallMs - offset * MINUTE_MS;
    if (zone.offset(candidate) === offset) best = Math.min(best, candidate);
  }
  if (best !== Number.POSITIVE_INFINITY) return best;
  if (after <= before) throw new InvalidCalendarError(`time zone ${zone.name} has an unsupported transition`);
  // In a gap: the transition lies in (wall − after, wall − before]. Offsets change on whole
  // seconds, so a millisecond bisection of at most a few hours converges in ~24 steps.
  let lo = wallMs - after * MINUTE_MS;
  let hi = wallMs - before * MINUTE_MS;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (zone.offset(mid) === after) hi = mid;
    else lo = mid;
  }
  return hi;
}

function intervalsOnDay(day: number, cal: CompiledCalendar): Interval[] {
  if (cal.closedDays.has(day)) return [];
  const intervals: Interval[] = [];
  for (const [open, close] of cal.weekly[weekdayOf(day)] ?? []) {
    const start = wallToInstant(cal.zone, day * DAY_MS + open * MINUTE_MS);
    const end = wallToInstant(cal.zone, day * DAY_MS + close * MINUTE_MS);
    // A range wholly inside a spring-forward gap has no instants that day.
    if (end > start) intervals.push([start, end]);
  }
  return intervals;
}

/**
 * Open intervals ending after `fromMs`, in time order. Starts a day early because an instant's
 * local date can trail the day whose hours it belongs to around a midnight clock change.
 */
function* openIntervalsAfter(fromMs: number, cal: CompiledCalendar): Generator<Interval> {
  const firstDay = localDayOf(fromMs, cal.zone) - 1;
  let closedRun = 0;
  for (let day = firstDay; day - firstDay <= MAX_SPAN_DAYS; day += 1) {
    const intervals = intervalsOnDay(day, cal).filter(([, end]) => end > fromMs);
    if (intervals.length === 0) {
      closedRun += 1;
      if (closedRun > MAX_CLOSED_RUN_DAYS) {
        throw new CalendarSearchLimitError(
          `no opening hours in ${MAX_CLOSED_RUN_DAYS} days from ${describeDay(firstDay + 1)} (${cal.timeZone}): ` +
            'every weekday with hours falls on a closed date',
        );
      }
      continue;
    }
    closedRun = 0;
    yield* intervals;
  }
  throw new CalendarSearchLimitError(`the answer is more than ${MAX_SPAN_DAYS} days after the start`);
}

// ---------------------------------------------------------------------------------------------
// Public API

/** Whether the practice is open at `atIso` (closing instants are closed). */
export function isOpen(atIso: string, cal: BusinessCalendar): boolean {
  const compiled = compile(cal);
  const at = parseInstant(atIso, 'atIso');
  const day = localDayOf(at, compiled.zone);
  for (let d = day - 1; d <= day + 1; d += 1) {
    if (intervalsOnDay(d, compiled).some(([start, end]) => start <= at && at < end)) return true;
  }
  return false;
}

/** The first instant ≥ `atIso` at which the practice is open: `atIso` itself (normalised) when open. */
export function nextOpening(atIso: string, cal: BusinessCalendar): string {
  const compiled = compile(cal);
  const at = parseInstant(atIso, 'atIso');
  for (const [start] of openIntervalsAfter(at, compiled)) return formatInstant(Math.max(start, at));
  // Unreachable: openIntervalsAfter throws rather than running dry.
  throw new CalendarSearchLimitError('no opening found');
}

/**
 * The SLA deadline: `startIso` plus `minutes` business minutes. A start outside hours counts from the
 * next opening; a deadline exactly at a closing time stays at that closing time; `minutes = 0`
 * gives {@link nextOpening}. `minutes` must be a non-negative integer.
 */
export function addBusinessMinutes(startIso: string, minutes: number, cal: BusinessCalendar): string {
  const compiled = compile(cal);
  const start = parseInstant(startIso, 'startIso');
  if (!Number.isSafeInteger(minutes) || minutes < 0) {
    throw new InvalidTimeInputError(`minutes must be a non-negative integer, got ${String(minutes)}`);
  }
  let remaining = minutes * MINUTE_MS;
  for (const [intervalStart, end] of openIntervalsAfter(start, compiled)) {
    const from = Math.max(intervalStart, start);
    if (remaining <= end - from) return formatInstant(from + remaining);
    remaining -= end - from;
  }
  // Unreachable: openIntervalsAfter throws rather than running dry.
  throw new CalendarSearchLimitError('no deadline found');
}

/**
 * Business minutes in `[aIso, bIso)`; negative when `bIso` is before `aIso` (so "minutes left until
 * the deadline" goes below zero once it has passed). Fractional when the instants are not on whole
 * minutes. Spans longer than {@link MAX_SPAN_DAYS} are refused.
 */
export function businessMinutesBetween(aIso: string, bIso: string, cal: BusinessCalendar): number {
  const compiled = compile(cal);
  const a = parseInstant(aIso, 'aIso');
  const b = parseInstant(bIso, 'bIso');
  // 0 − x rather than −x: a closed span answers 0, never −0 (which JSON would not round-trip).
  if (b < a) return 0 - minutesIn(b, a, compiled);
  return minutesIn(a, b, compiled);
}

function minutesIn(from: number, to: number, cal: CompiledCalendar): number {
  if (to - from > MAX_SPAN_DAYS * DAY_MS) {
    throw new CalendarSearchLimitError(`span is longer than ${MAX_SPAN_DAYS} days`);
  }
  const lastDay = localDayOf(to, cal.zone) + 1;
  let openMs = 0;
  for (let day = localDayOf(from, cal.zone) - 1; day <= lastDay; day += 1) {
    for (const [start, end] of intervalsOnDay(day, cal)) {
      openMs += Math.max(0, Math.min(end, to) - Math.max(start, from));
    }
  }
  return openMs / MINUTE_MS;
}
