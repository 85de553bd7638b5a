import { DateTime } from 'luxon';
import {
  LabResultPatchSchema,
  LabResultSeedSchema,
  PatientSeedSchema,
  type ActionNoteWrite,
  type FakeLabResult,
  type FakePatient,
  type FakePatientCase,
  type LabResultChange,
  type LabResultPatch,
  type LabResultSeed,
  type LabResultTopic,
  type PatientNoteWrite,
  type PatientSeed,
  type PortalPublicationMode,
} from './model';

/**
 * The athena fake's state and rules, independent of HTTP: documents and their review/close lifecycle,
 * the destructive-read changed feed, patient cases without idempotency, notes and portal publication.
 */

/** An error the HTTP layer turns into athena's `{ error, detailedmessage }` body. */
export class FakeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(typeof body.error === 'string' ? body.error : `HTTP ${status}`);
  }
}

export const notFound = (what: string) => new FakeHttpError(404, { error: `The ${what} is invalid.` });

/** athena's page-size ceiling for list endpoints. */
const MAX_LIMIT = 5000;
const DEFAULT_LIMIT = 1500;
/** Event names the fake lists for the lab-result feed (athena does not publish them; unverified). */
export const LAB_RESULT_FEED_EVENTS = ['AddLabResult', 'UpdateLabResult', 'CloseLabResult'];

interface FeedRecord {
  labResultId: string;
  changedAt: Date;
  processedAt?: Date;
}

interface FeedSubscription {
  eventNames: string[];
  departmentIds?: string[];
}

export class AthenaFakeStore {
  private clockOffsetMs = 0;
  private nextPatientId = 1000;
  private nextLabResultId = 144500;
  private nextAnalyteId = 5500;
  private nextPatientCaseId = 491700;
  readonly practices = new Set<string>();
  readonly patients = new Map<string, FakePatient>();
  readonly labResults = new Map<string, FakeLabResult>();
  readonly patientCases = new Map<string, FakePatientCase>();
  readonly patientNotes: PatientNoteWrite[] = [];
  readonly actionNotes: ActionNoteWrite[] = [];
  private readonly feeds = new Map<string, Map<string, FeedRecord>>();
  private readonly subscriptions = new Map<string, FeedSubscription>();
  portalPublication: PortalPublicationMode = { mode: 'immediate' };

  constructor(
    practiceIds: readonly string[],
    private readonly onChange: (change: LabResultChange) => void,
  ) {
    for (const practiceId of practiceIds) this.practices.add(practiceId);
  }

  // ---------------------------------------------------------------------------------------------
  // Clock: real time plus an offset tests can move (token expiry, publication delay, feed windows).

  now(): Date {
    return new Date(Date.now() + this.clockOffsetMs);
  }

  advanceTime(ms: number): void {
    this.clockOffsetMs += ms;
  }

  setTime(at: Date): void {
    this.clockOffsetMs = at.getTime() - Date.now();
  }

  // ---------------------------------------------------------------------------------------------
  // Seeding and lifecycle (control API).

  requirePractice(practiceId: string): void {
    if (!this.practices.has(practiceId)) throw new FakeHttpError(404, { error: 'Invalid practice ID.' });
  }

  addPatient(seed: PatientSeed): FakePatient {
    const input = PatientSeedSchema.parse(seed);
    const patientId = input.patientId ?? String(this.nextPatientId++);
    const patient: FakePatient = { ...input, patientId };
    this.practices.add(input.practiceId);
    this.patients.set(key(input.practiceId, patientId), patient);
    return patient;
  }

  patient(practiceId: string, patientId: string): FakePatient {
    this.requirePractice(practiceId);
    const patient = this.patients.get(key(practiceId, patientId));
    if (patient === undefined) throw notFound('patient ID');
    return patient;
  }

  addLabResult(seed: LabResultSeed): FakeLabResult {
    const input = LabResultSeedSchema.parse(seed);
    const patient = this.patient(input.practiceId, input.patientId);
    const labResultId = input.labResultId ?? String(this.nextLabResultId++);
    if (this.labResults.has(labResultId)) throw new Error(`lab result ${labResultId} already exists`);
    for (const related of [input.duplicateOf, input.supersedes]) {
      if (related !== undefined && !this.labResults.has(related))
        throw new Error(`lab result ${related} does not exist`);
    }
    const at = this.now();
    const result: FakeLabResult = {
      practiceId: input.practiceId,
      patientId: patient.patientId,
      labResultId,
      departmentId: input.departmentId ?? patient.departmentId,
      providerId: input.providerId,
      description: input.description,
      labresultloinc: input.labresultloinc,
      externalAccessionId: input.externalAccessionId,
      performingLabName: input.performingLabName,
      resultstatus: input.resultstatus,
      reportstatus: input.reportstatus,
      documentsource: input.documentsource,
      priority: input.priority,
      status: input.status,
      reviewed: input.reviewedByProvider,
      analytes: input.analytes.map((analyte) => ({ ...analyte, analyteid: this.nextAnalyteId++ })),
      createdAt: at,
      modifiedAt: at,
      lastModifiedUser: 'INTERFACE',
      duplicateOf: input.duplicateOf,
      supersedes: input.supersedes,
      ...(input.portalPublishedAt !== undefined ? { portalPublishedAt: new Date(input.portalPublishedAt) } : {}),
    };
    this.labResults.set(labResultId, result);
    this.changed('LabResult.create', result, at);
    return result;
  }

  labResult(labResultId: string): FakeLabResult {
    const result = this.labResults.get(labResultId);
    if (result === undefined) throw notFound('lab result ID');
    return result;
  }

  /** The document at `/v1/{practiceid}/documents/labresult/{id}`: another practice's result is not found. */
  labResultOfPractice(practiceId: string, labResultId: string): FakeLabResult {
    const result = this.labResult(labResultId);
    if (result.practiceId !== practiceId) throw notFound('lab result ID');
    return result;
  }

  /** The document at `/v1/{practiceid}/patients/{patientid}/documents/labresult/{id}`: all three must match. */
  labResultFor(practiceId: string, patientId: string, labResultId: string): FakeLabResult {
    this.patient(practiceId, patientId);
    const result = this.labResults.get(labResultId);
    if (result === undefined || result.practiceId !== practiceId || result.patientId !== patientId) {
      throw notFound('lab result ID');
    }
    this.refreshPublication(result);
    return result;
  }

  updateLabResult(labResultId: string, patch: LabResultPatch): FakeLabResult {
    const input = LabResultPatchSchema.parse(patch);
    const result = this.labResult(labResultId);
    if (input.resultstatus !== undefined) result.resultstatus = input.resultstatus;
    if (input.reportstatus !== undefined) result.reportstatus = input.reportstatus;
    if (input.description !== undefined) result.description = input.description;
    if (input.providerId !== undefined) result.providerId = input.providerId;
    if (input.analytes !== undefined) {
      result.analytes = input.analytes.map((analyte) => ({ ...analyte, analyteid: this.nextAnalyteId++ }));
    }
    this.touch(result, 'INTERFACE');
    this.changed('LabResult.update', result, result.modifiedAt);
    return result;
  }

  /**
   * The provider reviews the result in athena: `isreviewedbyprovider` flips, the document names the
   * provider (`providerid`, and `providerusername` when given) and is last modified by that provider's
   * user; the document stays open.
   */
  signOff(labResultId: string, providerId: string, providerUsername?: string): FakeLabResult {
    const result = this.labResult(labResultId);
    result.reviewed = true;
    result.providerId = providerId;
    if (providerUsername !== undefined) result.providerUsername = providerUsername;
    this.touch(result, providerUsername ?? `PROVIDER-${providerId}`);
    this.changed('LabResult.update', result, result.modifiedAt);
    return result;
  }

  /**
   * Closes the document (`status` CLOSED). Closing is not a review: `isreviewedbyprovider` is left as
   * it is. `byUser` is the athena user who closed it (e.g. a medical assistant); default: whoever
   * last modified it.
   */
  closeLabResult(labResultId: string, actionNote?: string, byUser?: string): FakeLabResult {
    const result = this.labResult(labResultId);
    result.status = 'CLOSED';
    if (actionNote !== undefined) this.recordActionNote(result, actionNote);
    this.touch(result, byUser ?? result.lastModifiedUser);
    this.changed('LabResult.close', result, result.modifiedAt);
    return result;
  }

  /** A staff user edits the document in athena (an internal note): only `lastmodifieduser`/time change. */
  editByUser(labResultId: string, username: string, internalNote?: string): FakeLabResult {
    const result = this.labResult(labResultId);
    if (internalNote !== undefined) result.internalNote = internalNote;
    this.touch(result, username);
    this.changed('LabResult.update', result, result.modifiedAt);
    return result;
  }

  // ---------------------------------------------------------------------------------------------
  // Writes the client makes.

  writePatientNote(result: FakeLabResult, note: string, replace: boolean): void {
    result.patientNote = replace || result.patientNote === undefined ? note : `${result.patientNote}\n${note}`;
    result.patientNoteWrittenAt = this.now();
    this.patientNotes.push({
      practiceId: result.practiceId,
      patientId: result.patientId,
      labResultId: result.labResultId,
      note,
      replace,
      at: this.now().toISOString(),
    });
    this.touch(result, 'API');
    this.refreshPublication(result);
    // A real change: athena's feed and webhooks carry it like any other update.
    this.changed('LabResult.update', result, result.modifiedAt);
  }

  recordActionNote(result: FakeLabResult, note: string): void {
    this.actionNotes.push({
      practiceId: result.practiceId,
      labResultId: result.labResultId,
      note,
      at: this.now().toISOString(),
    });
  }

  createPatientCase(practiceId: string, patientId: string, fields: Record<string, string>): FakePatientCase {
    this.patient(practiceId, patientId);
    const missing = ['departmentid', 'documentsource', 'documentsubclass'].filter((f) => (fields[f] ?? '') === '');
    if (missing.length > 0) {
      throw new FakeHttpError(400, { error: 'Additional fields are required.', missingfields: missing });
    }
    if (fields.callbacknumber !== undefined && fields.callbacknumbertype !== undefined) {
      throw new FakeHttpError(400, { error: 'callbacknumber and callbacknumbertype are mutually exclusive.' });
    }
    const priority = fields.priority ?? '2';
    if (priority !== '1' && priority !== '2') throw new FakeHttpError(400, { error: 'Invalid priority.' });
    const at = this.now();
    const patientCase: FakePatientCase = {
      practiceId,
      patientId,
      // No idempotency: every POST is a new case, as in athena.
      patientCaseId: String(this.nextPatientCaseId++),
      departmentId: fields.departmentid ?? '',
      documentSource: fields.documentsource ?? '',
      documentSubclass: fields.documentsubclass ?? '',
      subject: fields.subject,
      internalNote: fields.internalnote,
      priority,
      outboundOnly: isTrue(fields.outboundonly),
      callbackNumber: fields.callbacknumber,
      callbackNumberType: fields.callbacknumbertype,
      callbackName: fields.callbackname,
      providerId: fields.providerid,
      status: isTrue(fields.autoclose) ? 'CLOSED' : 'REVIEW',
      createdAt: at,
      modifiedAt: at,
      fields: { ...fields },
    };
    this.patientCases.set(patientCase.patientCaseId, patientCase);
    return patientCase;
  }

  patientCase(practiceId: string, patientId: string, patientCaseId: string): FakePatientCase {
    this.patient(practiceId, patientId);
    const patientCase = this.patientCases.get(patientCaseId);
    if (patientCase === undefined || patientCase.practiceId !== practiceId || patientCase.patientId !== patientId) {
      throw notFound('patient case ID');
    }
    return patientCase;
  }

  listPatientCases(practiceId: string, patientId: string, departmentId: string): FakePatientCase[] {
    this.patient(practiceId, patientId);
    return [...this.patientCases.values()].filter(
      (c) => c.practiceId === practiceId && c.patientId === patientId && c.departmentId === departmentId,
    );
  }

  assignPatientCase(patientCase: FakePatientCase, username: string): void {
    patientCase.assignedTo = username;
    patientCase.modifiedAt = this.now();
  }

  // ---------------------------------------------------------------------------------------------
  // Changed-data feed.

  subscribe(practiceId: string, eventName: string | undefined, departmentIds: string[] | undefined): void {
    this.requirePractice(practiceId);
    if (eventName !== undefined && !LAB_RESULT_FEED_EVENTS.includes(eventName)) {
      throw new FakeHttpError(400, { error: `Invalid eventname: ${eventName}` });
    }
    const existing = this.subscriptions.get(practiceId);
    const eventNames =
      eventName === undefined
        ? [...LAB_RESULT_FEED_EVENTS]
        : [...new Set([...(existing?.eventNames ?? []), eventName])];
    this.subscriptions.set(practiceId, { eventNames, departmentIds });
  }

  unsubscribe(practiceId: string): void {
    this.requirePractice(practiceId);
    this.subscriptions.delete(practiceId);
  }

  subscription(practiceId: string): { status: string; subscriptions: { eventname: string }[] } {
    this.requirePractice(practiceId);
    const subscription = this.subscriptions.get(practiceId);
    if (subscription === undefined) return { status: 'INACTIVE', subscriptions: [] };
    const status = subscription.eventNames.length === LAB_RESULT_FEED_EVENTS.length ? 'ACTIVE' : 'PARTIAL';
    return { status, subscriptions: subscription.eventNames.map((eventname) => ({ eventname })) };
  }

  /**
   * `GET /labresults/changed`. Returns unprocessed changes (plus, with a window, changes processed inside
   * it) and marks what it returns processed unless `leaveUnprocessed`: a response lost in transit takes
   * its records with it.
   */
  readChangedFeed(
    practiceId: string,
    options: { leaveUnprocessed: boolean; window?: { start: Date; end: Date }; limit?: number; offset?: number },
  ): { results: FakeLabResult[]; totalCount: number } {
    this.requirePractice(practiceId);
    if (!this.subscriptions.has(practiceId)) {
      // athena's exact answer for an unsubscribed feed is not published; refuse loudly rather than return nothing.
      throw new FakeHttpError(403, { error: 'You are not subscribed to this feed.' });
    }
    const feed = this.feeds.get(practiceId) ?? new Map<string, FeedRecord>();
    const { window } = options;
    const eligible = [...feed.values()]
      .filter(
        (record) =>
          record.processedAt === undefined ||
          (window !== undefined &&
            record.processedAt.getTime() >= window.start.getTime() &&
            record.processedAt.getTime() <= window.end.getTime()),
      )
      .sort((a, b) => a.changedAt.getTime() - b.changedAt.getTime());
    const limit = Math.min(options.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
    const offset = options.offset ?? 0;
    const page = eligible.slice(offset, offset + limit);
    if (!options.leaveUnprocessed) {
      const at = this.now();
      for (const record of page) record.processedAt ??= at;
    }
    return { results: page.map((record) => this.labResult(record.labResultId)), totalCount: eligible.length };
  }

  // ---------------------------------------------------------------------------------------------

  private touch(result: FakeLabResult, user: string): void {
    result.modifiedAt = this.now();
    result.lastModifiedUser = user;
  }

  private refreshPublication(result: FakeLabResult): void {
    // A note written after the last publication is published anew (its own, later time); until then
    // the document shows the older publication, which says nothing about the new note.
    if (result.patientNoteWrittenAt === undefined) return;
    if (result.portalPublishedAt !== undefined && result.portalPublishedAt >= result.patientNoteWrittenAt) return;
    const policy = this.portalPublication;
    if (policy.mode === 'never') return;
    const publishAt = result.patientNoteWrittenAt.getTime() + (policy.mode === 'delayed' ? policy.delayMs : 0);
    if (this.now().getTime() >= publishAt) result.portalPublishedAt = new Date(publishAt);
  }

  private changed(topic: LabResultTopic, result: FakeLabResult, at: Date): void {
    const subscription = this.subscriptions.get(result.practiceId);
    const eventName = {
      'LabResult.create': 'AddLabResult',
      'LabResult.update': 'UpdateLabResult',
      'LabResult.close': 'CloseLabResult',
    }[topic];
    const inScope =
      subscription !== undefined &&
      subscription.eventNames.includes(eventName) &&
      (subscription.departmentIds === undefined || subscription.departmentIds.includes(result.departmentId));
    if (inScope) {
      const feed = this.feeds.get(result.practiceId) ?? new Map<string, FeedRecord>();
      this.feeds.set(result.practiceId, feed);
      // One record per document: a new change re-opens a record that was already processed.
      feed.set(result.labResultId, { labResultId: result.labResultId, changedAt: at });
    }
    this.onChange({ topic, result, at });
  }
}

function key(practiceId: string, patientId: string): string {
  return `${practiceId}:${patientId}`;
}

export function isTrue(value: string | undefined): boolean {
  return value !== undefined && ['true', '1', 'y', 'yes'].includes(value.trim().toLowerCase());
}

/** athena's `mm/dd/yyyy hh24:mi:ss` in Eastern time, or a 400 naming the parameter. */
export function parseEasternDateTime(name: string, value: string): Date {
  const parsed = DateTime.fromFormat(value, 'MM/dd/yyyy HH:mm:ss', { zone: 'America/New_York' });
  if (!parsed.isValid) {
    throw new FakeHttpError(400, {
      error: `Invalid ${name}.`,
      detailedmessage: 'Expected mm/dd/yyyy hh24:mi:ss (Eastern).',
    });
  }
  return parsed.toJSDate();
}
