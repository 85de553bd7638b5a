import { DateTime } from 'luxon';

/**
 * Who is on call at a given instant, from the practice's weekly on-call schedule. Shifts are
 * wall-clock times in the practice's zone; a shift whose end is not after its start runs past
 * midnight into the next day (`17:00`–`08:00`), and `00:00`–`00:00` is a whole day. The first
 * matching shift wins, so list exceptions before the general rota; with no match, the practice's
 * default on-call provider is used. Pure: the instant is an argument.
 */
export interface OnCallShift {
  /** ISO weekdays the shift STARTS on: 1 = Monday … 7 = Sunday. */
  weekdays: number[];
  /** `HH:mm` local. */
  start: string;
  /** `HH:mm` local; not after `start` means the next day. */
  end: string;
  staffId: string;
}

const MINUTES_PER_DAY = 24 * 60;

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  if (h === undefined || m === undefined || !Number.isInteger(h) || !Number.isInteger(m) || h > 24 || m > 59) {
    throw new Error(`on-call time "${hhmm}" is not HH:mm`);
  }
  return h * 60 + m;
}

/** Does `shift` cover the local moment (weekday, minute of day)? */
function covers(shift: OnCallShift, weekday: number, minute: number): boolean {
  const start = minutesOf(shift.start);
  const end = minutesOf(shift.end);
  const crossesMidnight = end <= start;
  if (!crossesMidnight) return shift.weekdays.includes(weekday) && minute >= start && minute < end;
  const previousDay = weekday === 1 ? 7 : weekday - 1;
  // Started today and still before midnight, or started yesterday and not yet over.
  return (
    (shift.weekdays.includes(weekday) && minute >= start) || (shift.weekdays.includes(previousDay) && minute < end)
  );
}

export function onCallStaffAt(
  atIso: string,
  timeZone: string,
  schedule: readonly OnCallShift[],
  defaultStaffId: string,
): { staffId: string; shift?: number } {
  const local = DateTime.fromISO(atIso, { setZone: true }).setZone(timeZone);
  if (!local.isValid) throw new Error(`cannot read ${atIso} in zone ${timeZone}`);
  const minute = (local.hour * 60 + local.minute) % MINUTES_PER_DAY;
  const index = schedule.findIndex((shift) => covers(shift, local.weekday, minute));
  const shift = schedule[index];
  return shift === undefined ? { staffId: defaultStaffId } : { staffId: shift.staffId, shift: index };
}
