/*
 * Why this file is over 700 lines (about 800): startAthenaFake is one closure holding the fake's
 * state and every athenahealth route labloop calls (OAuth, lab results, patients, notes, cases, the
 * changed-data feed, webhooks), plus the sandbox's control endpoints, dispatched by hand. The store,
 * models, serialisers and failure rules are already their own modules; the planned rebuild of the
 * fakes on Fastify (issue 14) splits the routes by resource.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DateTime } from 'luxon';
import { z } from 'zod';
import {
  FailureInjector,
  FailureRuleSchema,
  injectedErrorBody,
  type FailureAction,
  type FailureRuleInput,
} from './failures';
import { constantTimeEqual } from '../shared/http';
import { renderHomePage } from './html';
import {
  AnalyteSeedSchema,
  LabResultPatchSchema,
  LabResultSeedSchema,
  PatientSeedSchema,
  type ActionNoteWrite,
  type FakeLabResult,
  type FakePatient,
  type FakePatientCase,
  type LabResultPatch,
  type LabResultSeed,
  type PatientNoteWrite,
  type PatientSeed,
  type PortalPublicationMode,
} from './model';
import {
  labResultChangedJson,
  labResultChartJson,
  labResultDocumentJson,
  patientCaseJson,
  patientJson,
} from './serialise';
import { AthenaFakeStore, FakeHttpError, isTrue, parseEasternDateTime } from './store';
import { WebhookSender, type WebhookDelivery, type WebhookTarget } from './webhook-sender';

/**
 * A local athenahealth (athenaOne) over real HTTP: the OAuth token endpoint and the v1 endpoints
 * labloop uses, with athena's shapes and quirks, failure injection, a webhook sender, a control API
 * (programmatic and under `/__fake/`) and an HTML page at `/`. Binds 127.0.0.1 only.
 */

/** The scope the v1 API requires. */
const V1_SCOPE = 'athena/service/Athenanet.MDP.*';
const DEFAULT_TOKEN_TTL_SECONDS = 3600;
const MAX_BODY_BYTES = 1_000_000;
const MAX_LOG_ENTRIES = 10_000;
export const DEFAULT_FAKE_PRACTICE_ID = '195900';

export interface AthenaFakeOptions {
  clientId: string;
  clientSecret: string;
  /** Access-token lifetime; short values let tests exercise refresh. */
  tokenTtlSeconds?: number;
  /** Where lab-result events are POSTed (athena's Event Subscription webhooks). */
  webhook?: WebhookTarget;
  /** Practices that exist before any seeding (default: athena's preview practice 195900). */
  practiceIds?: string[];
  portalPublication?: PortalPublicationMode;
  /**
   * `GET /patients/{id}/documents/patientcase?departmentid=` (patient cases of a patient) is NOT in
   * the public reference (§1.7 documents one case by ID and the changed feed). The fake serves it
   * (`served`, the default), as labloop's call-task reconciliation assumes; `refused` answers it like
   * an unknown endpoint (404), the way an athena without it would, so the fallback can be tested.
   */
  patientCaseList?: 'served' | 'refused';
  host?: string;
  port?: number;
}

export interface RequestLogEntry {
  at: string;
  method: string;
  path: string;
  status: number | 'hung';
  requestId?: string;
}

export interface AthenaFakeControl {
  addPatient(seed: PatientSeed): FakePatient;
  addLabResult(seed: LabResultSeed): FakeLabResult;
  updateLabResult(labResultId: string, patch: LabResultPatch): FakeLabResult;
  /** A provider reviews the result in athena (`isreviewedbyprovider` → true, `providerusername` when given). */
  signOff(labResultId: string, providerId: string, providerUsername?: string): FakeLabResult;
  /** Closes the document (CLOSED), as `byUser` when given; closing alone is not a provider's review. */
  closeLabResult(labResultId: string, actionNote?: string, byUser?: string): FakeLabResult;
  /** A user (e.g. a medical assistant) edits the document: `lastmodifieduser` becomes that user. */
  editByUser(labResultId: string, username: string, internalNote?: string): FakeLabResult;
  labResult(labResultId: string): FakeLabResult;
  /** The next `count` matching requests answer `status` (default 500), before or after processing. */
  failNext(count: number, options?: Omit<FailureRuleInput, 'count' | 'kind'>): void;
  /** The next `count` matching requests never answer (the client times out). */
  hangNext(count: number, options?: Omit<FailureRuleInput, 'count' | 'kind' | 'status' | 'retryAfterSeconds'>): void;
  clearFailures(): void;
  /** Every token issued so far is refused from now on (401). */
  revokeTokens(): void;
  /** Everything but the control API answers 503 while on. */
  setOutage(on: boolean): void;
  setPortalPublication(mode: PortalPublicationMode): void;
  now(): Date;
  advanceTime(ms: number): void;
  setTime(at: Date): void;
  patientNotes(): PatientNoteWrite[];
  patientCases(): FakePatientCase[];
  actionNotes(): ActionNoteWrite[];
  requests(): RequestLogEntry[];
  tokensIssued(): number;
  configureWebhook(target: WebhookTarget | undefined): void;
  setWebhookMode(mode: { duplicate?: boolean; reorder?: boolean }): void;
  flushWebhooks(): void;
  webhooksSettled(): Promise<void>;
  webhookDeliveries(): WebhookDelivery[];
}

export interface AthenaFake {
  /** Base URL (host root): give it to `createAthenaClient({ baseUrl })`. */
  url: string;
  control: AthenaFakeControl;
  close(): Promise<void>;
}

interface FakeResponse {
  status: number;
  body?: unknown;
  html?: string;
  headers?: Record<string, string>;
}

interface IssuedToken {
  expiresAt: number;
  scopes: string[];
  revoked: boolean;
}

interface V1Request {
  method: string;
  practiceId: string;
  rest: string;
  query: URLSearchParams;
  form: URLSearchParams;
}

type V1Handler = (request: V1Request, match: RegExpExecArray) => FakeResponse;

const ok = (body: unknown): FakeResponse => ({ status: 200, body });

function requiredParam(params: URLSearchParams, name: string): string {
  const value = params.get(name);
  if (value === null || value.trim() === '') {
    throw new FakeHttpError(400, { error: 'Additional fields are required.', missingfields: [name] });
  }
  return value;
}

function optionalCount(params: URLSearchParams, name: string): number | undefined {
  const value = params.get(name);
  if (value === null) return undefined;
  if (!/^\d+$/.test(value)) throw new FakeHttpError(400, { error: `Invalid ${name}.` });
  return Number(value);
}

function formFields(form: URLSearchParams): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of form) fields[name] = value;
  return fields;
}

export async function startAthenaFake(options: AthenaFakeOptions): Promise<AthenaFake> {
  const tokenTtlSeconds = options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  let baseUrl = '';
  const sender = new WebhookSender(() => baseUrl, randomUUID());
  sender.configure(options.webhook);
  const store = new AthenaFakeStore(options.practiceIds ?? [DEFAULT_FAKE_PRACTICE_ID], (change) =>
    sender.notify(change),
  );
  if (options.portalPublication !== undefined) store.portalPublication = options.portalPublication;
  const failures = new FailureInjector();
  const tokens = new Map<string, IssuedToken>();
  const requestLog: RequestLogEntry[] = [];
  let tokensIssued = 0;

  // -----------------------------------------------------------------------------------------------
  // OAuth

  function issueToken(request: IncomingMessage, form: URLSearchParams): FakeResponse {
    const expected = `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64')}`;
    if (!constantTimeEqual(request.headers.authorization ?? '', expected)) {
      return { status: 401, body: { error: 'invalid_client', detailedmessage: 'Client authentication failed.' } };
    }
    if (form.get('grant_type') !== 'client_credentials') {
      return {
        status: 400,
        body: { error: 'unsupported_grant_type', detailedmessage: 'grant_type must be client_credentials.' },
      };
    }
    const scope = form.get('scope')?.trim() ?? '';
    if (scope === '') {
      return {
        status: 401,
        body: {
          error: 'access_denied',
          detailedmessage: 'Policy evaluation failed for this request, please check the policy configurations.',
        },
      };
    }
    const accessToken = randomBytes(24).toString('base64url');
    tokens.set(accessToken, {
      expiresAt: store.now().getTime() + tokenTtlSeconds * 1000,
      scopes: scope.split(/\s+/),
      revoked: false,
    });
    tokensIssued += 1;
    return ok({ access_token: accessToken, token_type: 'Bearer', expires_in: tokenTtlSeconds, scope });
  }

  function authorise(request: IncomingMessage): FakeResponse | undefined {
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? tokens.get(header.slice('Bearer '.length)) : undefined;
    if (token === undefined || token.revoked || store.now().getTime() >= token.expiresAt) {
      return {
        status: 401,
        body: { error: 'Unauthorized', detailedmessage: 'The access token is invalid or has expired.' },
      };
    }
    if (!token.scopes.includes(V1_SCOPE)) {
      return {
        status: 401,
        body: { error: 'access_denied', detailedmessage: 'The token does not grant the v1 API scope.' },
      };
    }
    return undefined;
  }

  // -----------------------------------------------------------------------------------------------
  // v1 endpoints, relative to /v1/{practiceid}

  const v1Routes: { method: string; pattern: RegExp; handler: V1Handler }[] = [
    {
      method: 'GET',
      pattern: /^\/patients\/(\d+)$/,
      handler: (r, m) =>
        ok([
          patientJson(store.patient(r.practiceId, m[1] ?? ''), isTrue(r.query.get('showportalstatus') ?? undefined)),
        ]),
    },
    {
      method: 'GET',
      pattern: /^\/patients\/(\d+)\/documents\/labresult\/(\d+)$/,
      handler: (r, m) => ok([labResultDocumentJson(store.labResultFor(r.practiceId, m[1] ?? '', m[2] ?? ''))]),
    },
    {
      method: 'PUT',
      pattern: /^\/patients\/(\d+)\/documents\/labresult\/(\d+)$/,
      handler: (r, m) => {
        const result = store.labResultFor(r.practiceId, m[1] ?? '', m[2] ?? '');
        const note = r.form.get('notetopatient');
        const internal = r.form.get('internalnote');
        if (note === null && internal === null) throw new FakeHttpError(400, { error: 'Nothing to update.' });
        if (internal !== null) {
          result.internalNote =
            isTrue(r.form.get('replaceinternalnote') ?? undefined) || result.internalNote === undefined
              ? internal
              : `${result.internalNote}\n${internal}`;
        }
        if (note !== null) store.writePatientNote(result, note, isTrue(r.form.get('replacepatientnote') ?? undefined));
        return ok({ success: 'true' });
      },
    },
    {
      method: 'GET',
      pattern: /^\/chart\/(\d+)\/labresults$/,
      handler: (r, m) => {
        const patient = store.patient(r.practiceId, m[1] ?? '');
        const departmentId = requiredParam(r.query, 'departmentid');
        const start = parseDateParam(r.query, 'startdate');
        const end = parseDateParam(r.query, 'enddate');
        const hideDuplicates = isTrue(r.query.get('hideduplicate') ?? undefined);
        const results = [...store.labResults.values()].filter((result) => {
          const day = DateTime.fromJSDate(result.createdAt, { zone: 'America/New_York' }).toFormat('yyyy-MM-dd');
          return (
            result.practiceId === r.practiceId &&
            result.patientId === patient.patientId &&
            result.departmentId === departmentId &&
            !(hideDuplicates && result.duplicateOf !== undefined) &&
            (start === undefined || day >= start) &&
            (end === undefined || day <= end)
          );
        });
        const offset = optionalCount(r.query, 'offset') ?? 0;
        const limit = optionalCount(r.query, 'limit') ?? 1500;
        return ok({
          results: results.slice(offset, offset + limit).map(labResultChartJson),
          totalcount: results.length,
        });
      },
    },
    {
      method: 'POST',
      pattern: /^\/labresults\/changed\/subscription$/,
      handler: (r) => {
        const departmentIds = r.form.get('departmentids');
        store.subscribe(
          r.practiceId,
          r.form.get('eventname') ?? undefined,
          departmentIds === null ? undefined : departmentIds.split(','),
        );
        return ok({ success: 'true' });
      },
    },
    {
      method: 'GET',
      pattern: /^\/labresults\/changed\/subscription$/,
      handler: (r) => ok(store.subscription(r.practiceId)),
    },
    {
      method: 'DELETE',
      pattern: /^\/labresults\/changed\/subscription$/,
      handler: (r) => {
        store.unsubscribe(r.practiceId);
        return ok({ success: 'true' });
      },
    },
    {
      method: 'GET',
      pattern: /^\/labresults\/changed$/,
      handler: (r) => {
        const startText = r.query.get('showprocessedstartdatetime');
        const endText = r.query.get('showprocessedenddatetime');
        if ((startText === null) !== (endText === null)) {
          throw new FakeHttpError(400, {
            error: 'showprocessedstartdatetime and showprocessedenddatetime must be given together.',
          });
        }
        const window =
          startText === null || endText === null
            ? undefined
            : {
                start: parseEasternDateTime('showprocessedstartdatetime', startText),
                end: parseEasternDateTime('showprocessedenddatetime', endText),
              };
        const { results, totalCount } = store.readChangedFeed(r.practiceId, {
          leaveUnprocessed: isTrue(r.query.get('leaveunprocessed') ?? undefined),
          window,
          limit: optionalCount(r.query, 'limit'),
          offset: optionalCount(r.query, 'offset'),
        });
        return ok({ labresults: results.map(labResultChangedJson), totalcount: totalCount });
      },
    },
    {
      method: 'POST',
      pattern: /^\/patients\/(\d+)\/documents\/patientcase$/,
      handler: (r, m) => {
        const patientCase = store.createPatientCase(r.practiceId, m[1] ?? '', formFields(r.form));
        return ok({ success: true, patientcaseid: Number(patientCase.patientCaseId) });
      },
    },
    {
      // Not in the public reference: see AthenaFakeOptions.patientCaseList.
      method: 'GET',
      pattern: /^\/patients\/(\d+)\/documents\/patientcase$/,
      handler: (r, m) =>
        options.patientCaseList === 'refused'
          ? { status: 404, body: { error: 'Unknown endpoint.' } }
          : ok(
              store
                .listPatientCases(r.practiceId, m[1] ?? '', requiredParam(r.query, 'departmentid'))
                .map(patientCaseJson),
            ),
    },
    {
      method: 'GET',
      pattern: /^\/patients\/(\d+)\/documents\/patientcase\/(\d+)$/,
      handler: (r, m) => ok([patientCaseJson(store.patientCase(r.practiceId, m[1] ?? '', m[2] ?? ''))]),
    },
    {
      method: 'PUT',
      pattern: /^\/patients\/(\d+)\/documents\/patientcase\/(\d+)\/assign$/,
      handler: (r, m) => {
        store.assignPatientCase(
          store.patientCase(r.practiceId, m[1] ?? '', m[2] ?? ''),
          requiredParam(r.form, 'username'),
        );
        return ok({ success: true });
      },
    },
    {
      method: 'POST',
      pattern: /^\/documents\/labresult\/(\d+)\/actions$/,
      handler: (r, m) => {
        const result = store.labResultOfPractice(r.practiceId, m[1] ?? '');
        store.recordActionNote(result, requiredParam(r.form, 'actionnote'));
        return ok({ success: true });
      },
    },
    {
      method: 'PUT',
      pattern: /^\/documents\/labresult\/(\d+)\/close$/,
      handler: (r, m) => {
        const result = store.labResultOfPractice(r.practiceId, m[1] ?? '');
        store.closeLabResult(result.labResultId, r.form.get('actionnote') ?? undefined);
        return ok({ success: true });
      },
    },
  ];

  function parseDateParam(params: URLSearchParams, name: string): string | undefined {
    const value = params.get(name);
    if (value === null) return undefined;
    const parsed = DateTime.fromFormat(value, 'MM/dd/yyyy', { zone: 'UTC' });
    if (!parsed.isValid)
      throw new FakeHttpError(400, { error: `Invalid ${name}.`, detailedmessage: 'Expected mm/dd/yyyy.' });
    return parsed.toFormat('yyyy-MM-dd');
  }

  function handleV1(
    request: IncomingMessage,
    method: string,
    path: string,
    query: URLSearchParams,
    raw: string,
  ): FakeResponse {
    const denied = authorise(request);
    if (denied !== undefined) return denied;
    const match = /^\/v1\/([^/]+)(\/.*)$/.exec(path);
    if (match === null) return { status: 404, body: { error: 'Unknown endpoint.' } };
    const practiceId = decodeURIComponent(match[1] ?? '');
    const rest = match[2] ?? '';
    store.requirePractice(practiceId);
    const isForm = (request.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded');
    // athena reads v1 writes as form fields only; a JSON body arrives as "no fields".
    const form = new URLSearchParams(isForm ? raw : '');
    for (const route of v1Routes) {
      const routeMatch = route.pattern.exec(rest);
      if (routeMatch === null) continue;
      if (route.method !== method) continue;
      return route.handler({ method, practiceId, rest, query, form }, routeMatch);
    }
    return { status: 404, body: { error: 'Unknown endpoint.' } };
  }

  // -----------------------------------------------------------------------------------------------
  // Control API under /__fake/ (JSON), for the sandbox and scripts.

  const control: AthenaFakeControl = {
    addPatient: (seed) => store.addPatient(seed),
    addLabResult: (seed) => store.addLabResult(seed),
    updateLabResult: (labResultId, patch) => store.updateLabResult(labResultId, patch),
    signOff: (labResultId, providerId, providerUsername) => store.signOff(labResultId, providerId, providerUsername),
    closeLabResult: (labResultId, actionNote, byUser) => store.closeLabResult(labResultId, actionNote, byUser),
    editByUser: (labResultId, username, internalNote) => store.editByUser(labResultId, username, internalNote),
    labResult: (labResultId) => store.labResult(labResultId),
    failNext: (count, rule) => failures.add({ ...rule, count, kind: 'status' }),
    hangNext: (count, rule) => failures.add({ ...rule, count, kind: 'hang' }),
    clearFailures: () => failures.clear(),
    revokeTokens: () => {
      for (const token of tokens.values()) token.revoked = true;
    },
    setOutage: (on) => {
      failures.outage = on;
    },
    setPortalPublication: (mode) => {
      store.portalPublication = mode;
    },
    now: () => store.now(),
    advanceTime: (ms) => store.advanceTime(ms),
    setTime: (at) => store.setTime(at),
    patientNotes: () => [...store.patientNotes],
    patientCases: () => [...store.patientCases.values()],
    actionNotes: () => [...store.actionNotes],
    requests: () => [...requestLog],
    tokensIssued: () => tokensIssued,
    configureWebhook: (target) => sender.configure(target),
    setWebhookMode: (mode) => sender.setMode(mode),
    flushWebhooks: () => sender.flush(),
    webhooksSettled: () => sender.settled(),
    webhookDeliveries: () => sender.deliveries(),
  };

  const controlRoutes: {
    method: string;
    pattern: RegExp;
    handler: (body: unknown, match: RegExpExecArray) => FakeResponse;
  }[] = [
    {
      method: 'POST',
      pattern: /^\/patients$/,
      handler: (body) => ok(control.addPatient(PatientSeedSchema.parse(body))),
    },
    {
      method: 'POST',
      pattern: /^\/labresults$/,
      handler: (body) => ok(describeResult(control.addLabResult(LabResultSeedSchema.parse(body)))),
    },
    {
      method: 'POST',
      pattern: /^\/labresults\/(\d+)\/update$/,
      handler: (body, m) => ok(describeResult(control.updateLabResult(m[1] ?? '', LabResultPatchSchema.parse(body)))),
    },
    {
      method: 'POST',
      pattern: /^\/labresults\/(\d+)\/signoff$/,
      handler: (body, m) =>
        ok(
          describeResult(
            ((input) => control.signOff(m[1] ?? '', input.providerId, input.providerUsername))(
              z
                .object({ providerId: z.string().regex(/^\d+$/), providerUsername: z.string().min(1).optional() })
                .parse(body),
            ),
          ),
        ),
    },
    {
      method: 'POST',
      pattern: /^\/labresults\/(\d+)\/edit$/,
      handler: (body, m) =>
        ok(
          describeResult(
            ((input) => control.editByUser(m[1] ?? '', input.username, input.internalNote))(
              z.object({ username: z.string().min(1), internalNote: z.string().optional() }).parse(body),
            ),
          ),
        ),
    },
    {
      method: 'POST',
      pattern: /^\/labresults\/(\d+)\/close$/,
      handler: (body, m) =>
        ok(
          describeResult(
            ((input) => control.closeLabResult(m[1] ?? '', input.actionNote, input.byUser))(
              z.object({ actionNote: z.string().optional(), byUser: z.string().min(1).optional() }).parse(body ?? {}),
            ),
          ),
        ),
    },
    {
      method: 'POST',
      pattern: /^\/failures$/,
      handler: (body) => {
        failures.add(FailureRuleSchema.parse(body));
        return ok({ ok: true });
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/failures$/,
      handler: () => {
        control.clearFailures();
        return ok({ ok: true });
      },
    },
    {
      method: 'POST',
      pattern: /^\/revoke-tokens$/,
      handler: () => {
        control.revokeTokens();
        return ok({ ok: true });
      },
    },
    {
      method: 'POST',
      pattern: /^\/outage$/,
      handler: (body) => {
        control.setOutage(z.object({ on: z.boolean() }).parse(body).on);
        return ok({ ok: true });
      },
    },
    {
      method: 'POST',
      pattern: /^\/portal-publication$/,
      handler: (body) => {
        control.setPortalPublication(PortalPublicationSchema.parse(body));
        return ok({ ok: true });
      },
    },
    {
      method: 'POST',
      pattern: /^\/time$/,
      handler: (body) => {
        const input = z.object({ advanceMs: z.number().int().optional(), at: z.iso.datetime().optional() }).parse(body);
        if (input.at !== undefined) control.setTime(new Date(input.at));
        if (input.advanceMs !== undefined) control.advanceTime(input.advanceMs);
        return ok({ now: control.now().toISOString() });
      },
    },
    {
      method: 'POST',
      pattern: /^\/webhooks$/,
      handler: (body) => {
        control.configureWebhook(WebhookTargetSchema.nullable().parse(body) ?? undefined);
        return ok({ ok: true });
      },
    },
    {
      method: 'POST',
      pattern: /^\/webhooks\/mode$/,
      handler: (body) => {
        control.setWebhookMode(
          z.object({ duplicate: z.boolean().optional(), reorder: z.boolean().optional() }).parse(body),
        );
        return ok({ ok: true });
      },
    },
    {
      method: 'POST',
      pattern: /^\/webhooks\/flush$/,
      handler: () => {
        control.flushWebhooks();
        return ok({ ok: true });
      },
    },
    { method: 'GET', pattern: /^\/webhooks\/deliveries$/, handler: () => ok(control.webhookDeliveries()) },
    { method: 'GET', pattern: /^\/patient-notes$/, handler: () => ok(control.patientNotes()) },
    { method: 'GET', pattern: /^\/patient-cases$/, handler: () => ok(control.patientCases()) },
    { method: 'GET', pattern: /^\/action-notes$/, handler: () => ok(control.actionNotes()) },
    { method: 'GET', pattern: /^\/requests$/, handler: () => ok(control.requests()) },
    { method: 'GET', pattern: /^\/labresults$/, handler: () => ok([...store.labResults.values()].map(describeResult)) },
  ];

  function handleControl(method: string, path: string, raw: string): FakeResponse {
    const rest = path.slice('/__fake'.length);
    const route = controlRoutes.find((r) => r.method === method && r.pattern.test(rest));
    if (route === undefined) return { status: 404, body: { error: `No control endpoint ${method} ${path}` } };
    let body: unknown;
    try {
      body = raw.trim() === '' ? undefined : JSON.parse(raw);
    } catch {
      return { status: 400, body: { error: 'control body must be JSON' } };
    }
    try {
      return route.handler(body, route.pattern.exec(rest) as RegExpExecArray);
    } catch (error) {
      if (error instanceof z.ZodError) {
        return {
          status: 400,
          body: {
            error: 'invalid control request',
            issues: error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
          },
        };
      }
      if (error instanceof FakeHttpError) return { status: error.status, body: error.body };
      if (error instanceof Error) return { status: 400, body: { error: error.message } };
      throw error;
    }
  }

  // -----------------------------------------------------------------------------------------------
  // HTTP plumbing

  function send(response: ServerResponse, result: FakeResponse): void {
    if (result.html !== undefined) {
      response.writeHead(result.status, { 'Content-Type': 'text/html; charset=utf-8', ...result.headers });
      response.end(result.html);
      return;
    }
    const payload = result.body === undefined ? '' : JSON.stringify(result.body);
    response.writeHead(result.status, { 'Content-Type': 'application/json', ...result.headers });
    response.end(payload);
  }

  function injected(action: FailureAction): FakeResponse | 'hang' {
    if (action.kind === 'hang') return 'hang';
    const headers: Record<string, string> =
      action.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(action.retryAfterSeconds) };
    return { status: action.status, body: action.errorBody ?? injectedErrorBody(action.status), headers };
  }

  async function readBody(request: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > MAX_BODY_BYTES) throw new FakeHttpError(413, { error: 'Request body too large.' });
      chunks.push(buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  function processApi(
    request: IncomingMessage,
    method: string,
    path: string,
    query: URLSearchParams,
    raw: string,
  ): FakeResponse {
    try {
      if (path === '/oauth2/v1/token' && method === 'POST') {
        const isForm = (request.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded');
        return issueToken(request, new URLSearchParams(isForm ? raw : ''));
      }
      if (path.startsWith('/v1/')) return handleV1(request, method, path, query, raw);
      return { status: 404, body: { error: 'Unknown endpoint.' } };
    } catch (error) {
      if (error instanceof FakeHttpError) return { status: error.status, body: error.body };
      throw error;
    }
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? 'GET';
    const url = new URL(request.url ?? '/', 'http://athena.fake');
    const path = url.pathname;
    const raw = await readBody(request);

    if (method === 'GET' && path === '/') {
      send(response, { status: 200, html: renderHomePage(store, sender.deliveries()) });
      return;
    }
    if (path.startsWith('/__fake/')) {
      send(response, handleControl(method, path, raw));
      return;
    }

    const requestIdHeader = request.headers['x-request-id'];
    const entry: RequestLogEntry = {
      at: store.now().toISOString(),
      method,
      path,
      status: 0,
      requestId: typeof requestIdHeader === 'string' ? requestIdHeader : undefined,
    };
    requestLog.push(entry);
    // A long-running sandbox keeps the most recent requests only.
    if (requestLog.length > MAX_LOG_ENTRIES) requestLog.splice(0, requestLog.length - MAX_LOG_ENTRIES);
    const reply = (result: FakeResponse | 'hang') => {
      // A hung request is left open until the client gives up or the fake closes.
      if (result === 'hang') entry.status = 'hung';
      else {
        entry.status = result.status;
        send(response, result);
      }
    };

    if (failures.outage) {
      reply({ status: 503, body: injectedErrorBody(503) });
      return;
    }
    const action = failures.take(method, path);
    if (action !== undefined && action.when === 'before') {
      reply(injected(action));
      return;
    }
    const result = processApi(request, method, path, url.searchParams, raw);
    // 'after': the request was processed (a write landed) but the client is told it failed, or nothing.
    reply(action === undefined ? result : injected(action));
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const status = error instanceof FakeHttpError ? error.status : 500;
      const body =
        error instanceof FakeHttpError ? error.body : { error: 'Fake internal error', detailedmessage: String(error) };
      if (!response.headersSent) send(response, { status, body });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  baseUrl = `http://${address.address}:${address.port}`;

  return {
    url: baseUrl,
    control,
    close: async () => {
      sender.close();
      await sender.settled();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const PortalPublicationSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('immediate') }),
  z.object({ mode: z.literal('delayed'), delayMs: z.number().int().nonnegative() }),
  z.object({ mode: z.literal('never') }),
]);

const WebhookTargetSchema = z.object({
  url: z.url(),
  secret: z.string().min(1),
  maxAttempts: z.number().int().positive().optional(),
  retryBaseDelayMs: z.number().int().nonnegative().optional(),
  timeoutMs: z.number().int().positive().optional(),
});

/** Control-API view of a lab result (synthetic sandbox data). */
function describeResult(result: FakeLabResult): Record<string, unknown> {
  return {
    labResultId: result.labResultId,
    practiceId: result.practiceId,
    patientId: result.patientId,
    status: result.status,
    resultstatus: result.resultstatus,
    reviewed: result.reviewed,
    providerUsername: result.providerUsername,
    lastModifiedUser: result.lastModifiedUser,
    analytes: result.analytes.map((a) => AnalyteSeedSchema.parse(a)),
    portalPublishedAt: result.portalPublishedAt?.toISOString(),
  };
}
