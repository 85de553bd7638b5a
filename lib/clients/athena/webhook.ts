import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * athena Event Subscription webhooks (FHIR Subscriptions R5 backport, `id-only` payloads): signature
 * check and parsing. A notification is a FHIR `Bundle` (type `history`) whose first entry is a
 * `SubscriptionStatus`; its `notificationEvent[]` names what changed by reference/identifier only, and
 * the receiver inflates it through the REST API. Delivery is at-least-once and unordered: callers
 * de-duplicate on the event `id` and must not rely on arrival order.
 */

/** The only signature method athena uses today (WebSub); anything else is refused, not guessed. */
export const ATHENA_SIGNATURE_METHOD = 'sha256';
const SHA256_HEX_LENGTH = 64;

export interface VerifyAthenaWebhookSignatureInput {
  /** The `X-Hub-Secret` given when the subscription was created. */
  secret: string;
  /** The request body exactly as received (before any JSON parsing). */
  rawBody: string | Uint8Array;
  /** The `X-Hub-Signature` header value. */
  header: string | readonly string[] | null | undefined;
}

/**
 * True when `X-Hub-Signature` is `sha256=<hex>` and the hex is HMAC-SHA256(secret, rawBody). The
 * comparison is constant-time over equal-length digests; a missing header, another method, or a
 * malformed digest is simply false.
 */
export function verifyAthenaWebhookSignature({ secret, rawBody, header }: VerifyAthenaWebhookSignatureInput): boolean {
  if (secret.length === 0) throw new Error('athena webhook secret must not be empty');
  const value = typeof header === 'string' ? header : header?.length === 1 ? header[0] : undefined;
  if (value === undefined) return false;
  const separator = value.indexOf('=');
  if (separator < 0) return false;
  const method = value.slice(0, separator).trim().toLowerCase();
  const hex = value.slice(separator + 1).trim();
  if (method !== ATHENA_SIGNATURE_METHOD) return false;
  if (hex.length !== SHA256_HEX_LENGTH || !/^[0-9a-fA-F]+$/.test(hex)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const given = Buffer.from(hex, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** HMAC-SHA256 signature header value for a body, as athena sends it (used by the sandbox fake). */
export function signAthenaWebhookBody(secret: string, rawBody: string | Uint8Array): string {
  return `${ATHENA_SIGNATURE_METHOD}=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

const ReferenceSchema = z.looseObject({
  reference: z.string().min(1).optional(),
  identifier: z
    .looseObject({
      system: z.string().optional(),
      value: z.union([z.string(), z.number()]).transform(String).optional(),
    })
    .optional(),
});

const NotificationEventSchema = z.looseObject({
  id: z.string().min(1, 'event id must not be empty'),
  timestamp: z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO date-time'),
  eventNumber: z.union([z.string(), z.number()]).optional(),
  focus: ReferenceSchema.optional(),
  additionalContext: z.array(ReferenceSchema).optional(),
});

const SubscriptionStatusSchema = z.looseObject({
  resourceType: z.literal('SubscriptionStatus'),
  type: z.string().optional(),
  status: z.string().optional(),
  topic: z.string().optional(),
  subscription: z.looseObject({ reference: z.string().optional() }).optional(),
  notificationEvent: z.array(NotificationEventSchema).default([]),
});

const BundleSchema = z.looseObject({
  resourceType: z.literal('Bundle'),
  id: z.string().optional(),
  type: z.literal('history'),
  timestamp: z.string().optional(),
  entry: z
    .array(z.looseObject({ fullUrl: z.string().optional(), resource: z.unknown() }))
    .min(1, 'bundle has no entries (the first must be a SubscriptionStatus)'),
});

export interface AthenaWebhookEvent {
  /** Unique per event (the de-duplication key). */
  id: string;
  /** When the change was committed in athena (ISO), for ordering within one resource. */
  timestamp: string;
  /** Topic code, e.g. `LabResult.update`. */
  topic?: string;
  focus: {
    /** FHIR reference, when the resource has one. */
    reference?: string;
    /** Proprietary identifier token `urn:athenahealth:athenanet:{type}:{practiceid}|{id}`. */
    identifier?: string;
  };
  /** athena resource type from the focus identifier, lower-case (`labresult`, `patient`, …). */
  focusType?: string;
  practiceId?: string;
  patientId?: string;
  departmentId?: string;
  labResultId?: string;
}

export interface AthenaWebhookNotification {
  bundleId?: string;
  /** SubscriptionStatus.type: `event-notification`, `heartbeat`, `handshake`… */
  notificationType?: string;
  subscription?: string;
  topic?: string;
  events: AthenaWebhookEvent[];
}

/** A webhook body that is not an athena notification; `issues` name the offending fields. */
export class AthenaWebhookParseError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid athena webhook notification: ${issues.join('; ')}`);
    this.name = 'AthenaWebhookParseError';
  }
}

function issuesOf(error: z.ZodError, prefix: string): string[] {
  return error.issues.map(
    (issue) => `${[prefix, ...issue.path.map(String)].filter(Boolean).join('.')}: ${issue.message}`,
  );
}

const IDENTIFIER_TOKEN = /^urn:athenahealth:athenanet:([a-z]+):([^|:]+)\|(.+)$/i;
/** FHIR logical IDs embed the practice: `Patient/a-432.E-528595`, `Organization/a-432.Department-123`. */
const PATIENT_REFERENCE = /^Patient\/a-([^.]+)\.E-(.+)$/;
const DEPARTMENT_REFERENCE = /^Organization\/a-([^.]+)\.Department-(.+)$/;

interface Resolved {
  token?: string;
  type?: string;
  practiceId?: string;
  id?: string;
}

/**
 * The proprietary identifier as one token. athena's README shows `{ system: "urn:…:patient:432",
 * value: "528595" }`; some payloads put the whole `urn:…:432|528595` in `value`.
 */
function resolveIdentifier(reference: z.output<typeof ReferenceSchema> | undefined): Resolved {
  const identifier = reference?.identifier;
  if (identifier?.value === undefined) return {};
  const token =
    identifier.system === undefined || identifier.value.startsWith('urn:')
      ? identifier.value
      : `${identifier.system}|${identifier.value}`;
  const match = IDENTIFIER_TOKEN.exec(token);
  if (match === null) return { token };
  return { token, type: match[1]?.toLowerCase(), practiceId: match[2], id: match[3] };
}

function topicCode(topic: string | undefined): string | undefined {
  if (topic === undefined) return undefined;
  const last = topic.split('/').pop();
  return last === undefined || last === '' ? undefined : last;
}

/**
 * Validates an athena notification Bundle and extracts, per event, the IDs needed to inflate it:
 * practice and lab-result ID from the focus identifier, patient and department from `additionalContext`.
 * Throws {@link AthenaWebhookParseError} naming what is wrong.
 */
export function parseAthenaWebhook(body: unknown): AthenaWebhookNotification {
  const bundle = BundleSchema.safeParse(body);
  if (!bundle.success) throw new AthenaWebhookParseError(issuesOf(bundle.error, ''));
  const status = SubscriptionStatusSchema.safeParse(bundle.data.entry[0]?.resource);
  if (!status.success) throw new AthenaWebhookParseError(issuesOf(status.error, 'entry.0.resource'));
  const topic = topicCode(status.data.topic);

  const events = status.data.notificationEvent.map((event): AthenaWebhookEvent => {
    const focus = resolveIdentifier(event.focus);
    const result: AthenaWebhookEvent = {
      id: event.id,
      timestamp: event.timestamp,
      topic,
      focus: { reference: event.focus?.reference, identifier: focus.token },
      focusType: focus.type,
      practiceId: focus.practiceId,
    };
    if (focus.type === 'labresult') result.labResultId = focus.id;
    if (focus.type === 'patient') result.patientId = focus.id;

    const patientReference =
      event.focus?.reference === undefined ? null : PATIENT_REFERENCE.exec(event.focus.reference);
    if (patientReference !== null) {
      result.practiceId ??= patientReference[1];
      result.patientId ??= patientReference[2];
    }

    for (const context of event.additionalContext ?? []) {
      const resolved = resolveIdentifier(context);
      const patientMatch = context.reference === undefined ? null : PATIENT_REFERENCE.exec(context.reference);
      const departmentMatch = context.reference === undefined ? null : DEPARTMENT_REFERENCE.exec(context.reference);
      if (resolved.type === 'patient' || patientMatch !== null) {
        result.patientId ??= resolved.type === 'patient' ? resolved.id : patientMatch?.[2];
        result.practiceId ??= resolved.practiceId ?? patientMatch?.[1];
      }
      if (resolved.type === 'department' || departmentMatch !== null) {
        result.departmentId ??= resolved.type === 'department' ? resolved.id : departmentMatch?.[2];
        result.practiceId ??= resolved.practiceId ?? departmentMatch?.[1];
      }
    }
    return result;
  });

  return {
    bundleId: bundle.data.id,
    notificationType: status.data.type,
    subscription: status.data.subscription?.reference,
    topic,
    events,
  };
}
