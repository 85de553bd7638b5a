/**
 * The errors of the pure rules that mean a practice's configuration is wrong, not the code: a flag
 * mapping that is not an acuity, an unusable business calendar, a malformed time input, a calendar
 * search without an end, a malformed patient window. Whoever runs the rules (the workflow, the
 * calendar activities) fails them as ActivityErrorType.CONFIGURATION, so they reach a human instead
 * of being retried until the code changes. Listed by name: the classes live in several modules, and
 * the workflow sandbox loads its own copies of them.
 */
export const CONFIGURATION_ERROR_NAMES: ReadonlySet<string> = new Set([
  'InvalidFlagMappingError',
  'InvalidCalendarError',
  'InvalidTimeInputError',
  'CalendarSearchLimitError',
  'InvalidPatientWindowError',
]);

export function isConfigurationError(err: unknown): err is Error {
  return err instanceof Error && CONFIGURATION_ERROR_NAMES.has(err.name);
}
