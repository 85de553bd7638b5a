import type { LabResult } from '../../domain/lab-result';
import type { PracticeEntry } from '../practices';

/**
 * Sources name providers by NPI or their own IDs; the workflow and the review app use the
 * practice's staff IDs. Translate the ordering provider when the practice knows them, and apply
 * the practice's "results arrive signed" rule for HL7 interfaces that only send reviewed results.
 */
export function applyPracticeProviders(
  result: LabResult,
  entry: PracticeEntry,
  options: { arrivesSigned: boolean },
): LabResult {
  const ordering = result.orderingProvider;
  const staff =
    ordering === undefined
      ? undefined
      : entry.policy.staff.find(
          (s) => s.role === 'provider' && (s.id === ordering.id || (s.npi !== undefined && s.npi === ordering.id)),
        );
  let next: LabResult = result;
  if (staff !== undefined && ordering !== undefined && ordering.id !== staff.id) {
    next = { ...next, orderingProvider: { ...ordering, id: staff.id } };
  }
  if (options.arrivesSigned && next.signedOff === undefined && staff !== undefined) {
    next = {
      ...next,
      signedOff: { providerId: staff.id, ...(next.reportedAt !== undefined ? { at: next.reportedAt } : {}) },
    };
  }
  return next;
}
