import { DateTime } from 'luxon';

/**
 * Deadlines and timestamps as the review pages show them: computed at render on the server, in the
 * practice's zone (the browser's clock and zone play no part, so a mis-set clinic PC shows the truth).
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

export interface DeadlineView {
  /** "2 h 5 min left", "Overdue by 35 min". */
  text: string;
  overdue: boolean;
  /** Less than an hour left: shown with a warning marker (text, not only colour). */
  dueSoon: boolean;
  /** The deadline in the practice's zone, e.g. "Wed 25 Nov 14:30 EST". */
  local: string;
  iso: string;
}

/** A span as people say it: "45 min", "1 h 20 min", "2 d 3 h", "under 1 min". */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < MINUTE_MS) return 'under 1 min';
  const days = Math.floor(abs / DAY_MS);
  const hours = Math.floor((abs % DAY_MS) / HOUR_MS);
  const minutes = Math.floor((abs % HOUR_MS) / MINUTE_MS);
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  return `${minutes} min`;
}

/** An instant in the practice's zone, e.g. "Wed 25 Nov 14:30 EST". */
export function formatLocal(instant: Date, zone: string): string {
  return DateTime.fromJSDate(instant, { zone }).toFormat('ccc d LLL HH:mm ZZZZ');
}

export function describeDeadline(deadline: Date | undefined, now: Date, zone: string): DeadlineView | undefined {
  if (deadline === undefined) return undefined;
  const remaining = deadline.getTime() - now.getTime();
  const overdue = remaining <= 0;
  return {
    text: overdue ? `Overdue by ${formatDuration(remaining)}` : `${formatDuration(remaining)} left`,
    overdue,
    dueSoon: !overdue && remaining < HOUR_MS,
    local: formatLocal(deadline, zone),
    iso: deadline.toISOString(),
  };
}

/** "35 min ago", for how long something has waited. */
export function formatAge(since: Date, now: Date): string {
  return `${formatDuration(now.getTime() - since.getTime())} ago`;
}
