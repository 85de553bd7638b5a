import { ApplicationFailure } from '@temporalio/activity';
import { addBusinessMinutes, nextOpening } from '../domain/business-calendar';
import { isConfigurationError } from '../domain/configuration-errors';
import { NoCommonSendWindowError, nextPatientSendTime } from '../domain/patient-window';
import type { BusinessCalendar } from '../domain/practice';
import type { LabloopActivities, PatientSendWindow, PatientSendWindowRequest } from '../domain/activity-contract';
import { ActivityErrorType } from '../domain/activity-error-types';

/**
 * Time-zone arithmetic for the lab-result workflow, run as activities so that its answers are
 * recorded in history. The rules are the pure ones in domain/; ICU time-zone data comes from the
 * Node that runs them, and recording the answer keeps replays independent of later tz updates.
 */

/** A whole day: the bound used when the window never closes (a 00:00–00:00 window). */
const DAY_MS = 24 * 60 * 60_000;

/** Run a pure computation as an activity result, its known errors becoming non-retryable failures. */
function settled<T>(compute: () => T): Promise<T> {
  try {
    return Promise.resolve(compute());
  } catch (err) {
    return Promise.reject(toFailure(err));
  }
}

function toFailure(err: unknown): Error {
  if (err instanceof NoCommonSendWindowError) {
    return ApplicationFailure.nonRetryable(err.message, ActivityErrorType.NO_SEND_WINDOW);
  }
  if (isConfigurationError(err)) {
    return ApplicationFailure.nonRetryable(`${err.name}: ${err.message}`, ActivityErrorType.CONFIGURATION);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** The hours outside a daily `[start, end)` window, as a calendar whose "open" times are the quiet hours. */
function quietHoursCalendar(timeZone: string, window: PatientSendWindowRequest['window']): BusinessCalendar {
  const ranges: { open: string; close: string }[] = [];
  if (window.start !== '00:00') ranges.push({ open: '00:00', close: window.start });
  if (window.end !== '00:00' && window.end !== '24:00') ranges.push({ open: window.end, close: '00:00' });
  return {
    timeZone,
    hours: [1, 2, 3, 4, 5, 6, 7].flatMap((weekday) => ranges.map((r) => ({ weekday, ...r }))),
    closedDates: [],
  };
}

/** When the messaging window that contains `sendAt` ends: the earliest quiet-hours start over all zones. */
export function patientWindowEnd(
  sendAt: string,
  zones: readonly string[],
  window: PatientSendWindowRequest['window'],
): string {
  let earliest = Date.parse(sendAt) + DAY_MS;
  for (const zone of new Set(zones)) {
    const quiet = quietHoursCalendar(zone, window);
    if (quiet.hours.length === 0) continue;
    earliest = Math.min(earliest, Date.parse(nextOpening(sendAt, quiet)));
  }
  return new Date(earliest).toISOString();
}

export function createCalendarActivities(): Pick<
  LabloopActivities,
  'computeBusinessDeadline' | 'computePatientSendWindow'
> {
  return {
    computeBusinessDeadline({ startIso, businessMinutes, calendar }): Promise<string> {
      return settled(() => addBusinessMinutes(startIso, businessMinutes, calendar));
    },

    computePatientSendWindow({ atIso, zones, window }): Promise<PatientSendWindow> {
      return settled(() => {
        const sendAt = nextPatientSendTime(atIso, zones, window);
        return { sendAt, windowEndsAt: patientWindowEnd(sendAt, zones, window) };
      });
    },
  };
}
