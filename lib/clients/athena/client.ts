import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { z } from 'zod';
import { DEFAULT_MAX_ATTEMPTS, RETRY_BASE_DELAY_MS, RETRY_MAX_DELAY_MS } from './backoff';
import { athenaDateToIsoDate, athenaTimestampToIso, formatAthenaDate, formatAthenaEasternDateTime } from './dates';
import { AthenaError } from './errors';
import { TokenBucket } from './rate-limiter';
import {
  ChangedLabResultsSchema,
  LabResultDocumentSchema,
  LabResultListSchema,
  oneOf,
  PatientCaseCreatedSchema,
  PatientCaseListSchema,
  PatientCaseSchema,
  PatientRecordSchema,
  SubscriptionSchema,
  SuccessSchema,
  type AthenaLabResultDocument,
} from './schemas';
import { AthenaTransport, type AthenaAttempt } from './transport';

/**
 * The athenahealth (athenaOne) v1 REST client: the lab-result, patient, changed-data, patient-note,
 * patient-case and action-note calls labloop needs, over Node's fetch.
 */

/** The v1 scope; athena refuses a token request without an explicit scope. */
export const DEFAULT_ATHENA_SCOPE = 'athena/service/Athenanet.MDP.*';
/**
 * Per-attempt timeout. athena answers in well under a second normally; 10 s per attempt × 5 attempts +
 * at most 3.75 s of backoff keeps one call under ~55 s, inside a 60 s activity start-to-close timeout.
 */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** athena's preview limit (production is higher by agreement; configure it). */
export const DEFAULT_REQUESTS_PER_SECOND = 5;

const OptionsSchema = z.object({
  baseUrl: z.url(),
  clientId: z.string().min(1, 'must not be empty'),
  clientSecret: z.string().min(1, 'must not be empty'),
  scope: z.string().min(1).default(DEFAULT_ATHENA_SCOPE),
  timeoutMs: z.number().int().positive().default(DEFAULT_TIMEOUT_MS),
  maxAttempts: z.number().int().min(1).max(10).default(DEFAULT_MAX_ATTEMPTS),
  requestsPerSecond: z.number().positive().default(DEFAULT_REQUESTS_PER_SECOND),
  retryBaseDelayMs: z.number().int().nonnegative().default(RETRY_BASE_DELAY_MS),
  retryMaxDelayMs: z.number().int().nonnegative().default(RETRY_MAX_DELAY_MS),
});

export interface AthenaClientOptions {
  /** Host root: `https://api.platform.athenahealth.com`, the preview host, or a local fake. */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Defaults to {@link DEFAULT_ATHENA_SCOPE}. */
  scope?: string;
  timeoutMs?: number;
  /** Attempts per call including the first (1–10). */
  maxAttempts?: number;
  /** Client-side pacing; default 5 (preview). */
  requestsPerSecond?: number;
  /** Backoff tuning; tests shrink these. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Clock for token expiry (tests move it). */
  now?: () => number;
  /** Jitter source (tests pin it). */
  random?: () => number;
  /** Called after every HTTP attempt; carries IDs and outcomes only, safe to log. */
  onAttempt?: (attempt: AthenaAttempt) => void;
}

export interface PracticeRef {
  practiceId: string;
}
export interface PatientRef extends PracticeRef {
  patientId: string;
}
export interface LabResultRef extends PatientRef {
  labResultId: string;
}

/** The patient fields labloop uses, normalised. Contains PHI: never log it. */
export interface AthenaPatient {
  patientId: string;
  firstName?: string;
  lastName?: string;
  /** YYYY-MM-DD */
  birthDate?: string;
  /** As athena stores it (usually 10 digits); see `mapAthenaLabResult` for E.164. */
  mobilePhone?: string;
  homePhone?: string;
  zip?: string;
  /** BCP-47 tag derived from athena's ISO 639-2 `language6392code` when known (e.g. "en", "es"). */
  language?: string;
  /** athena's raw portal status text (e.g. "REGISTERED", "NOTREGISTERED"). */
  portalStatus?: string;
  /** True when the patient has a registered portal account. */
  portalActive?: boolean;
  consentToText?: boolean;
  departmentId?: string;
  primaryDepartmentId?: string;
}

export interface AthenaPatientCase {
  patientCaseId: string;
  patientId?: string;
  departmentId?: string;
  subject?: string;
  internalNote?: string;
  status?: string;
  priority?: string;
  outboundOnly?: boolean;
  callbackNumber?: string;
  providerId?: string;
  assignedTo?: string;
  documentSource?: string;
  documentSubclass?: string;
  createdAt?: string;
}

export interface CreatePatientCaseInput extends PatientRef {
  departmentId: string;
  /** Must carry the caller's marker token (here or in `internalNote`) so an ambiguous create can be found. */
  subject: string;
  internalNote: string;
  /** 1 high, 2 normal. */
  priority: 1 | 2;
  /** The case asks staff to place a call, rather than answering an inbound one. */
  outboundOnly: true;
  /**
   * Who to call back, exactly one of (athena: `callbacknumber` XOR `callbacknumbertype`, §1.7): the
   * number itself (E.164 or national), or the type of chart number athena should use (e.g. MOBILE).
   */
  callbackNumber?: string;
  callbackNumberType?: string;
  providerId?: string;
  /** athena `documentsource`, e.g. "PORTAL", "PHONE", "OTHER" (the full list is not published). */
  documentSource: string;
  /** athena `documentsubclass` for PATIENTCASE (practice-specific; not published). */
  documentSubclass: string;
}

export interface AthenaPortalPublication {
  published: boolean;
  /** ISO instant athena published the document to the portal. */
  publishedAt?: string;
}

export interface ListChangedLabResultsInput extends PracticeRef {
  /** Testing aid: do not mark returned records processed. */
  leaveUnprocessed?: boolean;
  /** Refetch records already processed in this window (both ends required; keep it short). */
  showProcessedStart?: Date;
  showProcessedEnd?: Date;
  limit?: number;
  offset?: number;
}

export interface AthenaClient {
  /** The full lab-result document (with `observations[]`). */
  getLabResult(args: LabResultRef): Promise<AthenaLabResultDocument>;
  /** The patient's lab results in a department (chart list, with `analytes[]`). */
  listPatientLabResults(
    args: PatientRef & {
      departmentId: string;
      /** YYYY-MM-DD */
      startDate?: string;
      /** YYYY-MM-DD */
      endDate?: string;
      hideDuplicates?: boolean;
      limit?: number;
      offset?: number;
    },
  ): Promise<{ results: AthenaLabResultDocument[]; totalCount: number }>;
  getPatient(args: PatientRef): Promise<AthenaPatient>;
  /** Subscribes the app to the practice's lab-result changed feed (all events unless one is named). */
  subscribeLabResultChanges(args: PracticeRef & { eventName?: string; departmentIds?: string[] }): Promise<void>;
  getLabResultSubscription(args: PracticeRef): Promise<{ status: string; eventNames: string[] }>;
  unsubscribeLabResultChanges(args: PracticeRef): Promise<void>;
  /**
   * Reads the changed feed. Destructive: athena marks returned records processed, so a response lost in
   * transit is gone from the feed. Such a call therefore fails `ambiguous` (never retried blind) unless
   * `leaveUnprocessed`; recover with a `showProcessedStart`/`End` window around the failed call.
   * The window travels as Eastern wall-clock time, which repeats 01:00–02:00 on the autumn DST day:
   * a window there is read as EDT by athena's format, so widen it by an hour on that day.
   * Records come in list form (no analytes): inflate each with `getLabResult` using its `patientid`.
   */
  listChangedLabResults(
    args: ListChangedLabResultsInput,
  ): Promise<{ labResults: AthenaLabResultDocument[]; totalCount: number }>;
  /**
   * Writes the patient-facing note on the lab-result document (athena's only way to put text on the
   * portal; the API cannot start a portal message). Appends unless `replace`; only a replace is retried
   * after an ambiguous failure.
   */
  updateLabResultPatientNote(args: LabResultRef & { note: string; replace?: boolean }): Promise<void>;
  /** Whether athena has published the document to the portal (verify after a patient-note write). */
  getPortalPublication(args: LabResultRef): Promise<AthenaPortalPublication>;
  /** Creates a PATIENTCASE document (a staff work item). Never retried after it may have landed. */
  createPatientCase(args: CreatePatientCaseInput): Promise<{ patientCaseId: string }>;
  assignPatientCase(args: PatientRef & { patientCaseId: string; username: string }): Promise<void>;
  getPatientCase(args: PatientRef & { patientCaseId: string }): Promise<AthenaPatientCase>;
  /**
   * Cases whose subject or internal note contains `marker`: how an ambiguous create is reconciled.
   * Uses a patient-case list by patient and department that the public reference does not document.
   */
  findPatientCases(args: PatientRef & { departmentId: string; marker: string }): Promise<AthenaPatientCase[]>;
  /** Adds an action note to a lab-result document. Never retried after it may have landed. */
  addLabResultActionNote(args: PracticeRef & { labResultId: string; note: string }): Promise<void>;
}

const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

function badInput(operation: string, detail: string): AthenaError {
  return new AthenaError({ kind: 'permanent', operation, detail });
}

/** athena refused a write in a 200 body: `detail` is ours, athena's `errormessage` stays vendor text. */
function refusedWrite(operation: string, detail: string, vendorMessage: string | undefined): AthenaError {
  return new AthenaError({ kind: 'permanent', operation, detail, vendorMessage });
}

/** A path segment from an ID, refusing anything that is not an athena-shaped ID (names the field, not the value). */
function segment(operation: string, field: string, value: string): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value))
    throw badInput(operation, `${field} is not a valid athena ID`);
  return encodeURIComponent(value);
}

function requireText(operation: string, field: string, value: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw badInput(operation, `${field} must not be empty`);
  return value;
}

function optionalCount(operation: string, field: string, value: number | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 0) throw badInput(operation, `${field} must be a non-negative integer`);
  return String(value);
}

function optionalDate(operation: string, field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return formatAthenaDate(value);
  } catch {
    throw badInput(operation, `${field} must be a YYYY-MM-DD date`);
  }
}

/** athena stores US numbers as 10 digits; anything else is passed as given. */
function toAthenaPhone(phone: string): string {
  const parsed = parsePhoneNumberFromString(phone, 'US');
  return parsed !== undefined && parsed.country === 'US' && parsed.isValid() ? parsed.nationalNumber : phone;
}

const ISO_639_2_TO_BCP47: Readonly<Record<string, string>> = {
  eng: 'en',
  spa: 'es',
  fre: 'fr',
  fra: 'fr',
  por: 'pt',
  chi: 'zh',
  zho: 'zh',
  vie: 'vi',
  kor: 'ko',
  rus: 'ru',
  ara: 'ar',
  hat: 'ht',
  tgl: 'tl',
  ger: 'de',
  deu: 'de',
  ita: 'it',
  pol: 'pl',
  jpn: 'ja',
};

function languageTag(code: string | undefined): string | undefined {
  if (code === undefined) return undefined;
  const lower = code.trim().toLowerCase();
  if (/^[a-z]{2}$/.test(lower)) return lower;
  return ISO_639_2_TO_BCP47[lower];
}

function toPatient(record: z.output<typeof PatientRecordSchema>): AthenaPatient {
  const portal = record.portalstatus;
  const portalStatus = typeof portal === 'string' ? portal : portal?.status;
  const registered = typeof portal === 'object' ? portal.registered : undefined;
  const portalActive =
    registered ??
    (portalStatus === undefined ? undefined : ['REGISTERED', 'ACTIVE'].includes(portalStatus.toUpperCase()));
  return {
    patientId: record.patientid,
    firstName: record.firstname,
    lastName: record.lastname,
    birthDate: athenaDateToIsoDate(record.dob),
    mobilePhone: record.mobilephone,
    homePhone: record.homephone,
    zip: record.zip,
    language: languageTag(record.language6392code),
    portalStatus,
    portalActive,
    consentToText: record.consenttotext,
    departmentId: record.departmentid,
    primaryDepartmentId: record.primarydepartmentid,
  };
}

function toPatientCase(record: z.output<typeof PatientCaseSchema>): AthenaPatientCase {
  return {
    patientCaseId: record.patientcaseid,
    patientId: record.patientid,
    departmentId: record.departmentid,
    subject: record.subject,
    internalNote: record.internalnote,
    status: record.status,
    priority: record.priority,
    outboundOnly: record.outboundonly,
    callbackNumber: record.callbacknumber,
    providerId: record.providerid,
    assignedTo: record.assignedto,
    documentSource: record.documentsource,
    documentSubclass: record.documentsubclass,
    createdAt: athenaTimestampToIso(record.createddatetime),
  };
}

/** `{ success: false, errormessage }` on a 200 is athena's way of refusing a write. */
function requireSuccess(operation: string, body: z.output<typeof SuccessSchema> | undefined): void {
  if (body?.success === false) throw refusedWrite(operation, 'athena answered success=false', body.errormessage);
}

/** Builds a client. Options are validated here: a bad value fails at start-up, naming the option. */
export function createAthenaClient(options: AthenaClientOptions): AthenaClient {
  const parsed = OptionsSchema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new Error(`invalid athena client options: ${problems}`);
  }
  const settings = parsed.data;
  const transport = new AthenaTransport({
    baseUrl: settings.baseUrl.replace(/\/+$/, ''),
    clientId: settings.clientId,
    clientSecret: settings.clientSecret,
    scope: settings.scope,
    timeoutMs: settings.timeoutMs,
    maxAttempts: settings.maxAttempts,
    backoff: { baseDelayMs: settings.retryBaseDelayMs, maxDelayMs: settings.retryMaxDelayMs },
    limiter: new TokenBucket(settings.requestsPerSecond),
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
    onAttempt: options.onAttempt,
  });

  const labResultPath = (operation: string, args: LabResultRef) =>
    `/${segment(operation, 'practiceId', args.practiceId)}/patients/${segment(operation, 'patientId', args.patientId)}/documents/labresult/${segment(operation, 'labResultId', args.labResultId)}`;

  const getLabResult = (args: LabResultRef, operation = 'getLabResult') =>
    transport.call({
      operation,
      method: 'GET',
      path: labResultPath(operation, args),
      idempotent: true,
      schema: oneOf(LabResultDocumentSchema),
    });

  return {
    getLabResult: (args) => getLabResult(args),

    async listPatientLabResults(args) {
      const operation = 'listPatientLabResults';
      const body = await transport.call({
        operation,
        method: 'GET',
        path: `/${segment(operation, 'practiceId', args.practiceId)}/chart/${segment(operation, 'patientId', args.patientId)}/labresults`,
        query: {
          departmentid: segment(operation, 'departmentId', args.departmentId),
          startdate: optionalDate(operation, 'startDate', args.startDate),
          enddate: optionalDate(operation, 'endDate', args.endDate),
          hideduplicate: args.hideDuplicates === undefined ? undefined : String(args.hideDuplicates),
          limit: optionalCount(operation, 'limit', args.limit),
          offset: optionalCount(operation, 'offset', args.offset),
        },
        idempotent: true,
        schema: LabResultListSchema,
      });
      return { results: body.results, totalCount: body.totalcount ?? body.results.length };
    },

    async getPatient(args) {
      const operation = 'getPatient';
      const record = await transport.call({
        operation,
        method: 'GET',
        path: `/${segment(operation, 'practiceId', args.practiceId)}/patients/${segment(operation, 'patientId', args.patientId)}`,
        // Without it athena leaves out the portal registration the channel choice depends on.
        query: { showportalstatus: 'true' },
        idempotent: true,
        schema: oneOf(PatientRecordSchema),
      });
      return toPatient(record);
    },

    async subscribeLabResultChanges(args) {
      const operation = 'subscribeLabResultChanges';
      const departmentIds = args.departmentIds?.map((id) => segment(operation, 'departmentIds', id));
      const body = await transport.call({
        operation,
        method: 'POST',
        path: `/${segment(operation, 'practiceId', args.practiceId)}/labresults/changed/subscription`,
        form: {
          eventname: args.eventName,
          departmentids: departmentIds === undefined ? undefined : departmentIds.join(','),
        },
        // Subscribing again leaves the same subscription.
        idempotent: true,
        schema: SuccessSchema.optional(),
      });
      requireSuccess(operation, body);
    },

    async getLabResultSubscription(args) {
      const operation = 'getLabResultSubscription';
      const body = await transport.call({
        operation,
        method: 'GET',
        path: `/${segment(operation, 'practiceId', args.practiceId)}/labresults/changed/subscription`,
        idempotent: true,
        schema: SubscriptionSchema,
      });
      return { status: body.status, eventNames: (body.subscriptions ?? []).map((s) => s.eventname) };
    },

    async unsubscribeLabResultChanges(args) {
      const operation = 'unsubscribeLabResultChanges';
      const body = await transport.call({
        operation,
        method: 'DELETE',
        path: `/${segment(operation, 'practiceId', args.practiceId)}/labresults/changed/subscription`,
        idempotent: true,
        schema: SuccessSchema.optional(),
      });
      requireSuccess(operation, body);
    },

    async listChangedLabResults(args) {
      const operation = 'listChangedLabResults';
      const { showProcessedStart: start, showProcessedEnd: end } = args;
      if ((start === undefined) !== (end === undefined)) {
        throw badInput(operation, 'showProcessedStart and showProcessedEnd must be given together');
      }
      if (start !== undefined && end !== undefined && start.getTime() > end.getTime()) {
        throw badInput(operation, 'showProcessedStart is after showProcessedEnd');
      }
      const body = await transport.call({
        operation,
        method: 'GET',
        path: `/${segment(operation, 'practiceId', args.practiceId)}/labresults/changed`,
        query: {
          leaveunprocessed: args.leaveUnprocessed === true ? 'true' : undefined,
          showprocessedstartdatetime: start === undefined ? undefined : formatAthenaEasternDateTime(start),
          showprocessedenddatetime: end === undefined ? undefined : formatAthenaEasternDateTime(end),
          limit: optionalCount(operation, 'limit', args.limit),
          offset: optionalCount(operation, 'offset', args.offset),
        },
        // A lost response would take its records with it (destructive read): only a non-marking read repeats.
        idempotent: args.leaveUnprocessed === true,
        schema: ChangedLabResultsSchema,
      });
      return { labResults: body.labresults, totalCount: body.totalcount ?? body.labresults.length };
    },

    async updateLabResultPatientNote(args) {
      const operation = 'updateLabResultPatientNote';
      const body = await transport.call({
        operation,
        method: 'PUT',
        path: labResultPath(operation, args),
        form: {
          notetopatient: requireText(operation, 'note', args.note),
          replacepatientnote: args.replace === true ? 'true' : undefined,
        },
        // An append twice writes the note twice; a replace twice leaves one note.
        idempotent: args.replace === true,
        schema: SuccessSchema.optional(),
      });
      requireSuccess(operation, body);
    },

    async getPortalPublication(args) {
      const document = await getLabResult(args, 'getPortalPublication');
      const publishedAt = athenaTimestampToIso(document.portalpublisheddatetime);
      return { published: publishedAt !== undefined, publishedAt };
    },

    async createPatientCase(args) {
      const operation = 'createPatientCase';
      if (args.priority !== 1 && args.priority !== 2) throw badInput(operation, 'priority must be 1 or 2');
      if (args.outboundOnly !== true) throw badInput(operation, 'outboundOnly must be true');
      if (args.callbackNumber !== undefined && args.callbackNumberType !== undefined) {
        throw badInput(operation, 'give callbackNumber or callbackNumberType, not both');
      }
      const body = await transport.call({
        operation,
        method: 'POST',
        path: `/${segment(operation, 'practiceId', args.practiceId)}/patients/${segment(operation, 'patientId', args.patientId)}/documents/patientcase`,
        form: {
          departmentid: segment(operation, 'departmentId', args.departmentId),
          documentsource: requireText(operation, 'documentSource', args.documentSource),
          documentsubclass: requireText(operation, 'documentSubclass', args.documentSubclass),
          subject: requireText(operation, 'subject', args.subject),
          internalnote: requireText(operation, 'internalNote', args.internalNote),
          priority: String(args.priority),
          outboundonly: 'true',
          callbacknumber: args.callbackNumber === undefined ? undefined : toAthenaPhone(args.callbackNumber),
          callbacknumbertype:
            args.callbackNumberType === undefined
              ? undefined
              : requireText(operation, 'callbackNumberType', args.callbackNumberType),
          providerid: args.providerId === undefined ? undefined : segment(operation, 'providerId', args.providerId),
        },
        // No idempotency key exists: a resend is a second case.
        idempotent: false,
        schema: PatientCaseCreatedSchema,
      });
      if (body.success === false || body.patientcaseid === undefined) {
        throw refusedWrite(operation, 'athena returned no patientcaseid', body.errormessage);
      }
      return { patientCaseId: body.patientcaseid };
    },

    async assignPatientCase(args) {
      const operation = 'assignPatientCase';
      const body = await transport.call({
        operation,
        method: 'PUT',
        path: `/${segment(operation, 'practiceId', args.practiceId)}/patients/${segment(operation, 'patientId', args.patientId)}/documents/patientcase/${segment(operation, 'patientCaseId', args.patientCaseId)}/assign`,
        // athena usernames are case-sensitive: sent exactly as given.
        form: { username: requireText(operation, 'username', args.username) },
        idempotent: true,
        schema: SuccessSchema.optional(),
      });
      requireSuccess(operation, body);
    },

    async getPatientCase(args) {
      const operation = 'getPatientCase';
      const record = await transport.call({
        operation,
        method: 'GET',
        path: `/${segment(operation, 'practiceId', args.practiceId)}/patients/${segment(operation, 'patientId', args.patientId)}/documents/patientcase/${segment(operation, 'patientCaseId', args.patientCaseId)}`,
        idempotent: true,
        schema: oneOf(PatientCaseSchema),
      });
      return toPatientCase(record);
    },

    async findPatientCases(args) {
      // NOT in the public reference (§1.7 documents GET of one case by ID and the changed feed, not a
      // list by patient). The sandbox fake serves it as assumed here; against an athena that refuses
      // it the call fails, the caller's reconcile answers "unknown" and the outbox resends at most
      // once, audited as ambiguous (lib/outbox/outbox.ts).
      const operation = 'findPatientCases';
      const marker = requireText(operation, 'marker', args.marker);
      const records = await transport.call({
        operation,
        method: 'GET',
        path: `/${segment(operation, 'practiceId', args.practiceId)}/patients/${segment(operation, 'patientId', args.patientId)}/documents/patientcase`,
        query: { departmentid: segment(operation, 'departmentId', args.departmentId) },
        idempotent: true,
        schema: PatientCaseListSchema,
      });
      return records
        .filter((record) => (record.subject ?? '').includes(marker) || (record.internalnote ?? '').includes(marker))
        .map(toPatientCase);
    },

    async addLabResultActionNote(args) {
      const operation = 'addLabResultActionNote';
      const body = await transport.call({
        operation,
        method: 'POST',
        path: `/${segment(operation, 'practiceId', args.practiceId)}/documents/labresult/${segment(operation, 'labResultId', args.labResultId)}/actions`,
        form: { actionnote: requireText(operation, 'note', args.note) },
        idempotent: false,
        schema: SuccessSchema.optional(),
      });
      requireSuccess(operation, body);
    },
  };
}
