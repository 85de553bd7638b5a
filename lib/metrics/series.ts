import { PRACTICES, VOCABULARIES as V } from './labels';
import { guardedCounter, guardedHistogram } from './registry';

/**
 * Every labloop series (docs/operations.md "Metrics" lists them with what to alert on). Labels are
 * enumerations only (lib/metrics/labels.ts): practice, acuity, channel, outcome, reason, level and
 * the like, never an identifier of a patient or a result.
 */

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Patient-facing latencies, from seconds (a pre-signed result texted at once) to a week (a normal
 * result signed after a long weekend): the SLA targets are hours, so the hour range is dense.
 */
const PATIENT_LATENCY_BUCKETS = [
  10,
  MINUTE,
  5 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  4 * HOUR,
  8 * HOUR,
  DAY,
  2 * DAY,
  3 * DAY,
  7 * DAY,
];

/** A critical call is due within the hour; the buckets resolve minutes up to a few hours. */
const CRITICAL_CALL_BUCKETS = [MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR];

/** Ingest answers are milliseconds to seconds (an engine times out at 30 s or so). */
const ACK_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const timeToNotify = guardedHistogram(
  'labloop_time_to_notify_seconds',
  'From the final result received to the patient told (SMS delivered, Spruce message posted, portal note published), by acuity and channel.',
  { practice: PRACTICES, acuity: V.acuity, channel: V.channel },
  PATIENT_LATENCY_BUCKETS,
);

export const signOffLatency = guardedHistogram(
  'labloop_sign_off_latency_seconds',
  'From the result received to the provider sign-off, by acuity.',
  { practice: PRACTICES, acuity: V.acuity },
  PATIENT_LATENCY_BUCKETS,
);

export const slaBreaches = guardedCounter(
  'labloop_sla_breaches_total',
  'Results whose sign-off deadline passed unsigned (the first escalation rung), by acuity.',
  { practice: PRACTICES, acuity: V.acuity },
);

export const escalations = guardedCounter(
  'labloop_escalations_total',
  'Escalations: sign-off ladder rungs (level 1, 2, ...) and overdue critical calls (level "call").',
  { practice: PRACTICES, acuity: V.acuity, level: V.escalationLevel },
);

export const criticalPageToCall = guardedHistogram(
  'labloop_critical_page_to_call_seconds',
  'For a critical result, from the on-call page to the outbound call completed, by call outcome.',
  { practice: PRACTICES, outcome: V.callOutcome },
  CRITICAL_CALL_BUCKETS,
);

export const deliveries = guardedCounter(
  'labloop_deliveries_total',
  'Sends at the provider step, by channel and outcome (sent, reconciled, ambiguous, published, not-published, ...).',
  { practice: PRACTICES, channel: V.channel, outcome: V.sendOutcome },
);

export const deliveryReports = guardedCounter(
  'labloop_delivery_reports_total',
  'Provider delivery reports applied to a send (Twilio status callbacks, Spruce items), by channel and status.',
  { practice: PRACTICES, channel: V.channel, outcome: V.deliveryStatus },
);

export const fallbacks = guardedCounter(
  'labloop_fallbacks_total',
  'Channel fallbacks decided by a result workflow, by reason (e.g. sms-outage, portal-note-not-published).',
  { practice: PRACTICES, reason: V.fallbackReason },
);

export const ambiguousSends = guardedCounter(
  'labloop_ambiguous_sends_total',
  'Sends retried after a crash when the provider could not say whether the first attempt landed (at most one duplicate each).',
  { practice: PRACTICES, channel: V.channel },
);

export const ingestAckLatency = guardedHistogram(
  'labloop_ingest_ack_seconds',
  'From an ingest request received to its answer (HTTP response or MLLP ACK), by source and outcome.',
  { source: V.ingestSource, outcome: V.ingestOutcome },
  ACK_BUCKETS,
);

export const ingestRefusals = guardedCounter(
  'labloop_ingest_refusals_total',
  'Ingest requests refused with a 4xx or an HL7 AE/AR, by source and reason.',
  { source: V.ingestSource, reason: V.refusalReason },
);

export const consentChanges = guardedCounter(
  'labloop_consent_changes_total',
  'SMS consent records that changed, by change (granted, revoked) and source.',
  { practice: PRACTICES, change: V.consentChange, source: V.consentSource },
);
