/**
 * Names of the permanent failures activities raise as non-retryable ApplicationFailures. The
 * workflow matches on these to choose a fallback instead of waiting out retries.
 */
export const ActivityErrorType = {
  /**
   * The SMS provider refused for good for a reason none of the named SMS types below covers (an
   * unlisted 4xx, e.g. a body Twilio will not take). `details[0]` is `{ code, httpStatus }`.
   */
  SMS_PERMANENT: 'SmsPermanentError',
  /**
   * The number cannot receive texts: not a valid number (21211), not a mobile (21614), unknown or
   * inactive (30005), landline or unreachable carrier (30006). Another channel, or staff, must reach
   * the patient; a retry never will.
   */
  SMS_INVALID_NUMBER: 'SmsInvalidNumberError',
  /**
   * The recipient opted out at the carrier (21610: replied STOP to Twilio). Our consent record has
   * been revoked and the patient's open workflows signalled (like a STOP we received ourselves).
   */
  SMS_OPTED_OUT: 'SmsOptedOutError',
  /**
   * The carrier or Twilio will not carry this message from this sender: filtered (30007), blocked
   * (30004), unregistered 10DLC sender (30034), unverified toll-free (30032), not reachable from this
   * sender (21612), region not enabled (21408), account suspended (30002). Often our own setup needs
   * fixing, so the administrator should hear of it; the patient needs another channel meanwhile.
   */
  SMS_BLOCKED: 'SmsBlockedError',
  /**
   * The practice+patient+phone already had its one consent invitation (another workflow, or an
   * earlier run, claimed it first): no second invitation goes out.
   */
  CONSENT_INVITATION_ALREADY_SENT: 'ConsentInvitationAlreadySentError',
  /** Our own consent record says no (revoked since the workflow decided). */
  SMS_CONSENT_MISSING: 'SmsConsentMissingError',
  /** The SMS body failed the PHI guard and no generic rewrite was possible. */
  PHI_GUARD_BLOCKED: 'PhiGuardBlockedError',
  SPRUCE_PERMANENT: 'SprucePermanentError',
  /** The patient has no Spruce account or invite, so no secure thread can be started. */
  SPRUCE_NO_ACCOUNT: 'SpruceNoAccountError',
  ATHENA_PERMANENT: 'AthenaPermanentError',
  /**
   * Retryable, raised by postPortalNote while athena has not yet published the note it wrote (or
   * still shows only an older publication). The activity answers `published: false` itself once its
   * publication window (PORTAL_PUBLICATION_MAX_WAIT_MS) is over, so the workflow sees this type only
   * when the activity's own schedule-to-close timeout ended first: treat that as "not published".
   */
  PORTAL_NOT_YET_PUBLISHED: 'PortalNotYetPublished',
  /** Our own configuration is wrong (unknown practice, missing staff member): needs a human. */
  CONFIGURATION: 'ConfigurationError',
  /** The patient's candidate time zones have no common messaging window: no SMS can be timed. */
  NO_SEND_WINDOW: 'NoSendWindowError',
} as const;

export type ActivityErrorTypeName = (typeof ActivityErrorType)[keyof typeof ActivityErrorType];
