import { ACUITIES } from '../../domain/lab-result';
import { CHANNELS, DELIVERY_STATUSES } from '../../workflows/definitions';

/**
 * The PHI guard of every metric label. A label value is never taken as given: each label has a
 * closed vocabulary (or, for practices, the practice registry's IDs), and anything else becomes
 * `other` at runtime, counted in `labloop_metric_label_rejections_total` so a new code shows up
 * as a gap instead of a leak. Free text (a name, a phone number, a test name, a value, an
 * identifier) can therefore never become a label, whatever a caller passes.
 */

/** What an out-of-vocabulary value is replaced with. */
export const OTHER = 'other';

/** Practices whose IDs may appear as labels: the registry's, registered at start (allowPracticeLabels). */
const practices = new Set<string>();

/** Let these practice IDs (from the practice registry, configuration rather than input) be label values. */
export function allowPracticeLabels(ids: Iterable<string>): void {
  for (const id of ids) practices.add(id);
}

const DELIVERY_FAILURES = [
  'permanent',
  'opted-out',
  'already-invited',
  'outage',
  'undelivered',
  'consent-missing',
  'phi-blocked',
  'no-account',
  'no-send-window',
  'not-published',
  'cancelled',
  'window-closed',
] as const;

/** The fallback audit outcomes of workflows/delivery.ts (`<channel>-<failure>`, `stale-<failure>`, and named ones). */
const FALLBACK_REASONS = [
  ...CHANNELS.flatMap((channel) => DELIVERY_FAILURES.map((failure) => `${channel}-${failure}`)),
  ...DELIVERY_FAILURES.map((failure) => `stale-${failure}`),
  'portal-only-no-consent',
  'consent-invitation-already-sent',
  'portal-note-not-published',
  'no-spruce-account',
  'portal-only-opted-out',
];

/** Outcomes of the provider step of a send (lib/outbox/outbox.ts, activities/athena.ts, workflows/delivery.ts). */
const SEND_OUTCOMES = [
  'sent',
  'reconciled',
  'ambiguous',
  'published',
  'not-published',
  'not-publishable',
  'sent-before-cancel-took-effect',
];

/** Closed vocabularies of label values, each named for what it enumerates. */
export const VOCABULARIES = {
  acuity: [...ACUITIES, 'unknown'],
  channel: [...CHANNELS],
  sendOutcome: [...SEND_OUTCOMES],
  deliveryStatus: [...DELIVERY_STATUSES],
  fallbackReason: [...FALLBACK_REASONS],
  /** Rungs of the sign-off escalation ladder, and `call` for an overdue critical call. */
  escalationLevel: ['1', '2', '3', '4', '5', '6', '7', '8', '9', 'call'],
  ingestSource: ['hl7-https', 'hl7-mllp', 'fhir', 'athena-webhook'],
  ingestOutcome: ['accepted', 'duplicate', 'refused', 'unavailable'],
  /** Why an ingest request was refused (from its HTTP status or HL7 ACK). */
  refusalReason: [
    'invalid-message',
    'unknown-practice',
    'unauthenticated',
    'forbidden',
    'too-large',
    'unsupported-media-type',
    'rate-limited',
    'conflict',
    'bad-request',
  ],
  consentChange: ['granted', 'revoked'],
  consentSource: ['keyword', 'free-text', 'staff', 'athena', 'invitation', 'carrier'],
  callOutcome: ['reached', 'voicemail', 'no-answer', 'wrong-number'],
  backlogAge: ['lt-1h', '1h-4h', '4h-24h', '1d-3d', 'gt-3d'],
} as const satisfies Record<string, readonly string[]>;

/** A label's allowed values: a closed vocabulary, or the registered practice IDs. */
export type Vocabulary = readonly string[] | typeof PRACTICES;
/** Marks the practice label: its vocabulary is the practice registry (allowPracticeLabels). */
export const PRACTICES = Symbol('practice IDs of the registry');

/** Rejections, by metric and label (the rejected value itself is never kept: it may be PHI). */
type RejectionCounter = (metric: string, label: string) => void;
let onReject: RejectionCounter = () => undefined;

/** Where rejections are counted (lib/metrics/series.ts wires its counter in). */
export function onLabelRejected(counter: RejectionCounter): void {
  onReject = counter;
}

const sets = new WeakMap<readonly string[], ReadonlySet<string>>();
function setOf(values: readonly string[]): ReadonlySet<string> {
  let set = sets.get(values);
  if (set === undefined) {
    set = new Set(values);
    sets.set(values, set);
  }
  return set;
}

/** The value a label may carry: the given one when its vocabulary has it, else `other`. */
export function guardLabel(
  metric: string,
  label: string,
  vocabulary: Vocabulary,
  value: string | number | undefined,
): string {
  const text = value === undefined ? '' : String(value);
  const allowed = vocabulary === PRACTICES ? practices.has(text) : setOf(vocabulary).has(text);
  if (allowed) return text;
  onReject(metric, label);
  return OTHER;
}

/** Guard every label of one observation against the metric's declared vocabularies. */
export function guardLabels<L extends string>(
  metric: string,
  vocabularies: Record<L, Vocabulary>,
  labels: Record<L, string | number | undefined>,
): Record<L, string> {
  const out = {} as Record<L, string>;
  for (const name of Object.keys(vocabularies) as L[]) {
    out[name] = guardLabel(metric, name, vocabularies[name], labels[name]);
  }
  return out;
}
