/**
 * Names of the permanent failures activities raise as non-retryable ApplicationFailures. The
 * workflow matches on these to choose a fallback instead of waiting out retries.
 */
export const ActivityErrorType = {
  /** The SMS provider refused for good: invalid number, opted out, landline, carrier-blocked. */
  SMS_PERMANENT: 'SmsPermanentError',
  /** Our own consent record says no (revoked since the workflow decided). */
  SMS_CONSENT_MISSING: 'SmsConsentMissingError',
  /** The SMS body failed the PHI guard and no generic rewrite was possible. */
  PHI_GUARD_BLOCKED: 'PhiGuardBlockedError',
  SPRUCE_PERMANENT: 'SprucePermanentError',
  /** The patient has no Spruce account or invite, so no secure thread can be started. */
  SPRUCE_NO_ACCOUNT: 'SpruceNoAccountError',
  ATHENA_PERMANENT: 'AthenaPermanentError',
  /** Our own configuration is wrong (unknown practice, missing staff member): needs a human. */
  CONFIGURATION: 'ConfigurationError',
  /** The patient's candidate time zones have no common messaging window: no SMS can be timed. */
  NO_SEND_WINDOW: 'NoSendWindowError',
} as const;

export type ActivityErrorTypeName = (typeof ActivityErrorType)[keyof typeof ActivityErrorType];
