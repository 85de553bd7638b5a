import { DateTime } from 'luxon';
import { ATHENA_TIME_ZONE } from '../clients/athena';

/**
 * The `showprocessedstartdatetime`/`showprocessedenddatetime` windows one poll re-reads. athena
 * wants short windows in Eastern wall-clock time with whole seconds, so the span from the
 * checkpoint (less a margin) to now is cut into chunks, and a chunk whose end falls in the autumn
 * repeated hour (01:00–02:00 happens twice) is widened by that hour, because athena cannot tell
 * which 01:30 we mean.
 */

export interface FeedWindow {
  start: Date;
  end: Date;
}

/**
 * Margin on both ends of the refetch span. It covers clock skew between us and athena (athena stamps
 * "processed" with its own clock) and the seconds the Eastern format drops; 2 minutes is far above
 * NTP-synchronised skew and costs only re-reading ~2 polls' worth of records, which the hand-off
 * recognises as already delivered.
 */
export const REFETCH_MARGIN_MS = 2 * 60_000;
/** Longest single window asked of athena ("short windows only"); a longer gap is read in chunks. */
export const REFETCH_CHUNK_MS = 15 * 60_000;
/** The autumn DST repeat: one hour of Eastern wall-clock times that occur twice. */
const REPEATED_HOUR_MS = 60 * 60_000;

/** True when the instant's Eastern wall-clock time (to the second) names two instants. */
export function isAmbiguousEasternTime(instant: Date): boolean {
  const wall = DateTime.fromJSDate(instant, { zone: ATHENA_TIME_ZONE }).startOf('second');
  return wall.getPossibleOffsets().length > 1;
}

/**
 * Windows covering [from − margin, now + margin], oldest first, each at most `chunkMs` long before
 * widening. `from` is the checkpoint (or, on a first poll, however far back the caller wants to look).
 */
export function planRefetchWindows(input: {
  from: Date;
  now: Date;
  marginMs?: number;
  chunkMs?: number;
}): FeedWindow[] {
  const margin = input.marginMs ?? REFETCH_MARGIN_MS;
  const chunk = input.chunkMs ?? REFETCH_CHUNK_MS;
  if (chunk <= 0) throw new Error('chunkMs must be positive');
  const spanStart = input.from.getTime() - margin;
  const spanEnd = input.now.getTime() + margin;
  const windows: FeedWindow[] = [];
  for (let start = spanStart; start < spanEnd; start += chunk) {
    const end = Math.min(start + chunk, spanEnd);
    const widenedStart = isAmbiguousEasternTime(new Date(start)) ? start - REPEATED_HOUR_MS : start;
    const widenedEnd = isAmbiguousEasternTime(new Date(end)) ? end + REPEATED_HOUR_MS : end;
    windows.push({ start: new Date(widenedStart), end: new Date(widenedEnd) });
  }
  return windows;
}
