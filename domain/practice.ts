import type { ValueRules } from './critical-values';
import type { Acuity } from './lab-result';
import type { OnCallShift } from './on-call';

/**
 * A practice's policy, as the workflow needs it. It is snapshotted into the workflow input when the
 * workflow starts, so a replay never depends on configuration read later.
 */

/** `HH:mm` local wall-clock time. */
export type LocalTime = string;

export interface OpeningHours {
  /** ISO weekday 1 (Monday) .. 7 (Sunday). */
  weekday: number;
  open: LocalTime;
  close: LocalTime;
}

export interface BusinessCalendar {
  /** IANA zone of the practice, e.g. "America/New_York". */
  timeZone: string;
  hours: OpeningHours[];
  /** Closed dates `YYYY-MM-DD` (holidays), local to the practice. */
  closedDates: string[];
}

export interface StaffMember {
  id: string;
  /** Display name for the review app; never sent to a patient channel. */
  name: string;
  role: 'provider' | 'staff' | 'administrator';
  /** Spruce member id, for pages and internal notes. */
  spruceMemberId?: string;
  /** athena username, for assigning patient cases. */
  athenaUsername?: string;
  /** athena's provider ID (`providerid`) for a provider: how an athena review is attributed to them. */
  athenaProviderId?: string;
  /** National Provider Identifier, how HL7 (OBR-16, ORC-12) and athena name providers. */
  npi?: string;
  /** Work email; a verified email from single sign-on maps the person to this staff member. */
  email?: string;
  /** The identity provider's subject (`sub`) for this person; matched before the email when set. */
  oidcSubject?: string;
  /**
   * The person's own mobile (E.164) for the SMS path of a critical page when Spruce is failing. It
   * only ever gets a generic text (a result needs attention, and the review link).
   */
  pagerPhone?: string;
}

export interface PracticePolicy {
  practiceId: string;
  /** Shown to patients in generic texts ("… from {practiceName}"). */
  practiceName: string;
  calendar: BusinessCalendar;
  /** Business minutes a provider has to sign before escalation starts. */
  signOffSlaMinutes: Record<Exclude<Acuity, 'critical'>, number>;
  /** Business minutes between escalation steps after the first deadline. */
  escalationStepMinutes: number;
  /**
   * Business minutes between repeated pages after the ladder's last rung, while unsigned (absent:
   * DEFAULT_ESCALATION_REPEAT_MINUTES in escalation.ts; optional so inputs of older runs stay valid).
   */
  escalationRepeatMinutes?: number;
  /** Who is escalated to, after the ordering provider: covering/on-call, then the administrator. */
  onCallProviderId: string;
  /**
   * Weekly on-call rota (practice zone). A page meant for the on-call provider goes to whoever this
   * names at the time of the page; `onCallProviderId` covers any time it leaves open.
   */
  onCallSchedule?: OnCallShift[];
  administratorId: string;
  /** Everyone who may act in the review app; sign-off is limited to role "provider". */
  staff: StaffMember[];
  /** Patient messaging window, local to the patient: 08:00–21:00 by default (TCPA). */
  patientQuietHours: { start: LocalTime; end: LocalTime };
  /** Minutes a critical's outbound-call task may stay open before escalation (default 30). */
  criticalCallEscalationMinutes: number;
  /** Minutes between repeated administrator pages while an escalated critical call stays open (escalation.ts). */
  criticalCallRepeatMinutes?: number;
  /** Minutes a channel may keep failing before the portal-only fallback (default 30). */
  channelOutageFallbackMinutes: number;
  /** Minutes an abnormal result's secure thread may stay unread before a call task. */
  abnormalUnreadCallMinutes: number;
  /** Offer a one-time SMS consent invitation for normal results when the patient has not consented. */
  smsConsentInvitation: boolean;
  /** Scheduling link placed in abnormal-result secure messages. */
  schedulingUrl: string;
  /** Help text for the HELP keyword (no PHI). */
  smsHelpText: string;
  /** Extra flag vocabulary for this practice's sources, upper-case keys. */
  flagMappings: Record<string, Acuity>;
  /**
   * Critical limits by LOINC and reference-range checking, so a panic value the lab did not flag
   * is still critical. Absent (policies snapshotted before it existed): flags alone decide.
   */
  valueRules?: ValueRules;
  /** athena department for patient cases and documents. */
  athenaDepartmentId?: string;
  /** The Twilio sender (TWILIO_SENDERS id) the practice's texts go from; absent: the default sender. */
  smsSenderId?: string;
}
