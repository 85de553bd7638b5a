import type { z } from 'zod';
import type { LabResult, Observation, PatientContact, ProviderRef, ResultStatus } from '../../domain/lab-result';
import { languageTag } from '../hl7/language';
import { toE164 } from '../hl7/phone';
import {
  BundleSchema,
  DiagnosticReportSchema,
  ObservationSchema,
  PatientSchema,
  PractitionerSchema,
  type DiagnosticReportStatus,
  type FhirCodeableConcept,
  type FhirDiagnosticReport,
  type FhirHumanName,
  type FhirObservation,
  type FhirPatient,
  type FhirPractitioner,
  type FhirQuantity,
  type FhirReference,
} from './schemas';

/**
 * FHIR R4 lab reports (a DiagnosticReport with contained resources, or a Bundle of any type) to
 * LabResults. Problems name the JSON path, e.g. `entry[2].resource.status: must be one of …`, and
 * never a value: they reach logs and HTTP responses, and values are PHI.
 */

export interface FhirProblem {
  path: string;
  message: string;
}

export interface MapFhirOptions {
  /** The practice a report belongs to; `undefined` rejects the report (unknown practice). */
  practiceIdFor: (report: FhirDiagnosticReport) => string | undefined;
  /** messageId when neither the report's meta.versionId nor the Bundle's id is present. */
  messageIdFallback: string;
  /**
   * The issuer of a report ID that names none: an identifier without `system`, or the report's own
   * logical id. Default `fhir`; the ingest passes the authenticated sender, so two senders' bare IDs differ.
   */
  unqualifiedIssuer?: string;
}

/** Issuer of bare report IDs when the caller names no sender. */
const DEFAULT_UNQUALIFIED_ISSUER = 'fhir';

export type MapFhirOutcome = { ok: true; results: LabResult[] } | { ok: false; problems: FhirProblem[] };

const REPORT_STATUS: Readonly<Record<DiagnosticReportStatus, ResultStatus>> = {
  registered: 'preliminary',
  partial: 'preliminary',
  preliminary: 'preliminary',
  // Unknown is never announced: treated as not yet final.
  unknown: 'preliminary',
  final: 'final',
  amended: 'corrected',
  corrected: 'corrected',
  appended: 'corrected',
  cancelled: 'cancelled',
  'entered-in-error': 'cancelled',
};

const FLAG_JOINER = '~';
/** The LOINC code system URI (FHIR R4 terminology). */
const LOINC_SYSTEM = 'http://loinc.org';
const FHIR_FULL_DATE = /^\d{4}-\d{2}-\d{2}$/;
/** `Type/id` at the end of a relative or absolute reference, optionally with `/_history/v`. */
const TYPED_REFERENCE = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9.-]{1,64})(?:\/_history\/[^/]+)?$/;

type Parsed =
  | { kind: 'DiagnosticReport'; path: string; resource: FhirDiagnosticReport }
  | { kind: 'Observation'; path: string; resource: FhirObservation }
  | { kind: 'Patient'; path: string; resource: FhirPatient }
  | { kind: 'Practitioner'; path: string; resource: FhirPractitioner };

/** Maps a FHIR JSON body (already JSON-parsed) to lab results, or lists everything wrong with it. */
export function mapFhirToResults(body: unknown, options: MapFhirOptions): MapFhirOutcome {
  const problems: FhirProblem[] = [];
  const resourceType = isObject(body) ? body.resourceType : undefined;
  const index = new Map<string, Parsed>();
  const reports: Parsed[] = [];
  let bundleId: string | undefined;

  if (resourceType === 'DiagnosticReport') {
    const report = parseResource(body, 'DiagnosticReport', problems);
    if (report !== undefined) reports.push(report);
  } else if (resourceType === 'Bundle') {
    const bundle = validate(BundleSchema, body, '', problems);
    if (bundle === undefined) return { ok: false, problems };
    bundleId = bundle.id;
    for (const [i, entry] of (bundle.entry ?? []).entries()) {
      if (entry.resource === undefined) continue;
      const parsed = parseResource(entry.resource, `entry[${i}].resource`, problems);
      if (parsed === undefined) continue;
      if (entry.fullUrl !== undefined) index.set(entry.fullUrl, parsed);
      if (parsed.resource.id !== undefined) index.set(`${parsed.kind}/${parsed.resource.id}`, parsed);
      if (parsed.kind === 'DiagnosticReport') reports.push(parsed);
    }
    if (problems.length === 0 && reports.length === 0) {
      problems.push({ path: 'entry', message: 'holds no DiagnosticReport' });
    }
  } else {
    problems.push({
      path: 'resourceType',
      message: isObject(body) ? 'must be DiagnosticReport or Bundle' : 'missing: the body must be a FHIR JSON object',
    });
  }
  if (problems.length > 0) return { ok: false, problems };

  const results: LabResult[] = [];
  for (const report of reports) {
    if (report.kind !== 'DiagnosticReport') continue;
    const result = mapReport(report.resource, report.path, { index, bundleId, options, problems });
    if (result !== undefined) results.push(result);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, results };
}

interface MappingContext {
  index: Map<string, Parsed>;
  bundleId: string | undefined;
  options: MapFhirOptions;
  problems: FhirProblem[];
}

function mapReport(report: FhirDiagnosticReport, path: string, ctx: MappingContext): LabResult | undefined {
  const problemsBefore = ctx.problems.length;
  const problem = (where: string, message: string): void => {
    ctx.problems.push({ path: `${path}${where}`, message });
  };

  const contained = new Map<string, Parsed>();
  for (const [j, raw] of (report.contained ?? []).entries()) {
    const parsed = parseResource(raw, `${path}.contained[${j}]`, ctx.problems);
    if (parsed !== undefined && raw.id !== undefined) contained.set(`#${raw.id}`, parsed);
  }
  // An invalid contained resource is reported once, not again as every reference that misses it.
  if (ctx.problems.length > problemsBefore) return undefined;
  const resolve = (ref: FhirReference | undefined): Parsed | undefined => resolveReference(ref, contained, ctx.index);

  const identifier = report.identifier?.[0];
  const resultId = identifier?.value ?? report.id;
  if (resultId === undefined || resultId === '') problem('.identifier', 'missing (and the report has no id)');
  // An identifier is unique only within its system: two labs may number reports alike.
  const system = identifier?.value !== undefined ? identifier.system?.trim() : undefined;
  const resultIdIssuer =
    system !== undefined && system !== '' ? system : (ctx.options.unqualifiedIssuer ?? DEFAULT_UNQUALIFIED_ISSUER);

  const practiceId = ctx.options.practiceIdFor(report);
  if (practiceId === undefined || practiceId === '') problem('', 'no practice is configured for this report');

  const patient = subjectPatient(report.subject, resolve, problem);

  const observations: Observation[] = [];
  for (const [k, ref] of (report.result ?? []).entries()) {
    const target = resolve(ref);
    if (target?.kind !== 'Observation') {
      problem(
        `.result[${k}]`,
        `reference ${describeReference(ref)} does not resolve to an Observation in this message`,
      );
      continue;
    }
    const observation = mapObservation(target.resource);
    if (observation === undefined) {
      ctx.problems.push({ path: `${target.path}.code`, message: 'has neither a coding code nor text' });
      continue;
    }
    observations.push(observation);
  }

  if (ctx.problems.length > problemsBefore || resultId === undefined || practiceId === undefined) return undefined;
  if (patient === undefined) return undefined;

  const result: LabResult = {
    source: 'fhir',
    practiceId,
    resultId,
    resultIdIssuer,
    messageId: report.meta?.versionId ?? ctx.bundleId ?? ctx.options.messageIdFallback,
    status: REPORT_STATUS[report.status],
    rawStatus: report.status,
    patient,
    observations,
  };
  const reportedAt = report.issued ?? report.meta?.lastUpdated;
  if (reportedAt !== undefined) result.reportedAt = reportedAt;
  const panelCode = firstCode(report.code);
  const panelName = conceptText(report.code);
  if (panelCode !== undefined) result.panelCode = panelCode;
  if (panelName !== undefined) result.panelName = panelName;
  const provider = orderingProvider([...(report.performer ?? []), ...(report.resultsInterpreter ?? [])], resolve);
  if (provider !== undefined) result.orderingProvider = provider;
  if (report.conclusion !== undefined && report.conclusion.trim() !== '') result.comments = [report.conclusion];
  return result;
}

function subjectPatient(
  subject: FhirReference | undefined,
  resolve: (ref: FhirReference | undefined) => Parsed | undefined,
  problem: (where: string, message: string) => void,
): PatientContact | undefined {
  if (subject === undefined) {
    problem('.subject', 'missing');
    return undefined;
  }
  const target = resolve(subject);
  if (target?.kind === 'Patient') {
    const patient = mapPatient(target.resource);
    if (patient === undefined) problem('.subject', 'the referenced Patient has neither an identifier value nor an id');
    return patient;
  }
  // A logical reference (identifier only) still tells us who the patient is.
  const logicalId = subject.identifier?.value;
  if (subject.reference === undefined && logicalId !== undefined && logicalId !== '') return { id: logicalId };
  problem('.subject', `reference ${describeReference(subject)} does not resolve to a Patient in this message`);
  return undefined;
}

function resolveReference(
  ref: FhirReference | undefined,
  contained: Map<string, Parsed>,
  index: Map<string, Parsed>,
): Parsed | undefined {
  const reference = ref?.reference;
  if (reference === undefined) return undefined;
  if (reference.startsWith('#')) return contained.get(reference);
  const exact = index.get(reference);
  if (exact !== undefined) return exact;
  const typed = TYPED_REFERENCE.exec(reference);
  return typed === null ? undefined : index.get(`${typed[1]}/${typed[2]}`);
}

function mapObservation(obs: FhirObservation): Observation | undefined {
  const code = firstCode(obs.code) ?? nonEmpty(obs.code.text);
  if (code === undefined) return undefined;
  const observation: Observation = { code, name: conceptText(obs.code) ?? code, value: '' };
  const loinc = obs.code.coding?.find((c) => c.system === LOINC_SYSTEM && nonEmpty(c.code) !== undefined)?.code;
  if (loinc !== undefined) observation.loinc = loinc.trim();
  const value = observationValue(obs);
  if (value !== undefined) {
    observation.value = value.value;
    observation.valueType = value.valueType;
    if (value.units !== undefined) observation.units = value.units;
  }
  const range = obs.referenceRange?.[0];
  if (range !== undefined) {
    const text = nonEmpty(range.text) ?? rangeText(range.low, range.high);
    if (text !== undefined) observation.referenceRange = text;
  }
  const flags = (obs.interpretation ?? []).flatMap((concept) => {
    const codes = (concept.coding ?? []).map((c) => nonEmpty(c.code)).filter((c): c is string => c !== undefined);
    const text = nonEmpty(concept.text);
    return codes.length > 0 ? codes : text === undefined ? [] : [text];
  });
  if (flags.length > 0) observation.flag = flags.join(FLAG_JOINER);
  observation.status = obs.status;
  const notes = (obs.note ?? []).map((n) => n.text.trim()).filter((t) => t !== '');
  if (notes.length > 0) observation.comments = notes;
  return observation;
}

function observationValue(obs: FhirObservation): { value: string; valueType: string; units?: string } | undefined {
  if (obs.valueQuantity !== undefined) {
    const q = obs.valueQuantity;
    return { value: quantityNumber(q), valueType: 'Quantity', ...unitsOf(q) };
  }
  if (obs.valueString !== undefined) return { value: obs.valueString, valueType: 'string' };
  if (obs.valueCodeableConcept !== undefined) {
    const concept = obs.valueCodeableConcept;
    return { value: conceptText(concept) ?? firstCode(concept) ?? '', valueType: 'CodeableConcept' };
  }
  if (obs.valueRange !== undefined) {
    const { low, high } = obs.valueRange;
    return {
      value: `${low === undefined ? '' : quantityNumber(low)}-${high === undefined ? '' : quantityNumber(high)}`,
      valueType: 'Range',
      ...unitsOf(low ?? high ?? {}),
    };
  }
  if (obs.valueRatio !== undefined) {
    const { numerator, denominator } = obs.valueRatio;
    const part = (q: FhirQuantity | undefined): string => (q === undefined ? '' : quantityNumber(q));
    return { value: `${part(numerator)}:${part(denominator)}`, valueType: 'Ratio' };
  }
  if (obs.valueInteger !== undefined) return { value: String(obs.valueInteger), valueType: 'integer' };
  if (obs.valueBoolean !== undefined) return { value: String(obs.valueBoolean), valueType: 'boolean' };
  if (obs.valueDateTime !== undefined) return { value: obs.valueDateTime, valueType: 'dateTime' };
  if (obs.valueTime !== undefined) return { value: obs.valueTime, valueType: 'time' };
  return undefined;
}

function quantityNumber(q: FhirQuantity): string {
  return `${q.comparator ?? ''}${q.value === undefined ? '' : String(q.value)}`;
}

function unitsOf(q: FhirQuantity): { units?: string } {
  const units = nonEmpty(q.unit) ?? nonEmpty(q.code);
  return units === undefined ? {} : { units };
}

/** `low-high unit`, `>=low unit` or `<=high unit`. */
function rangeText(low: FhirQuantity | undefined, high: FhirQuantity | undefined): string | undefined {
  const lowValue = low?.value;
  const highValue = high?.value;
  const units = unitsOf(low ?? high ?? {}).units;
  const suffix = units === undefined ? '' : ` ${units}`;
  if (lowValue !== undefined && highValue !== undefined) return `${lowValue}-${highValue}${suffix}`;
  if (lowValue !== undefined) return `>=${lowValue}${suffix}`;
  if (highValue !== undefined) return `<=${highValue}${suffix}`;
  return undefined;
}

function mapPatient(patient: FhirPatient): PatientContact | undefined {
  const id = nonEmpty(patient.identifier?.[0]?.value) ?? nonEmpty(patient.id);
  if (id === undefined) return undefined;
  const contact: PatientContact = { id };
  const name = preferredName(patient.name);
  if (name !== undefined) {
    const family = nonEmpty(name.family);
    const given = nonEmpty(name.given?.[0]);
    if (family !== undefined) contact.lastName = family;
    if (given !== undefined) contact.firstName = given;
  }
  if (patient.birthDate !== undefined && FHIR_FULL_DATE.test(patient.birthDate)) contact.birthDate = patient.birthDate;
  const phones = (patient.telecom ?? []).filter((t) => t.system === 'phone' && nonEmpty(t.value) !== undefined);
  // A number marked mobile wins; else one whose use the source did not state (the notifier checks
  // the line type before texting). Home, work, temp and old numbers are not texted.
  const mobile =
    phones.map((t) => (t.use === 'mobile' ? toE164(t.value ?? '') : undefined)).find((n) => n !== undefined) ??
    phones.map((t) => (t.use === undefined ? toE164(t.value ?? '') : undefined)).find((n) => n !== undefined);
  if (mobile !== undefined) contact.mobilePhone = mobile;
  const address = patient.address?.find((a) => a.use === 'home') ?? patient.address?.[0];
  const postalCode = nonEmpty(address?.postalCode);
  if (postalCode !== undefined) contact.postalCode = postalCode;
  const communication = patient.communication?.find((c) => c.preferred === true) ?? patient.communication?.[0];
  if (communication !== undefined) {
    const language = languageTag(firstCode(communication.language) ?? '', conceptText(communication.language) ?? '');
    if (language !== undefined) contact.language = language;
  }
  return contact;
}

function orderingProvider(
  refs: FhirReference[],
  resolve: (ref: FhirReference | undefined) => Parsed | undefined,
): ProviderRef | undefined {
  for (const ref of refs) {
    const target = resolve(ref);
    if (target?.kind === 'Practitioner') {
      const p = target.resource;
      const id = nonEmpty(p.identifier?.[0]?.value) ?? nonEmpty(p.id);
      if (id === undefined) continue;
      const name = personName(preferredName(p.name)) ?? nonEmpty(ref.display);
      return name === undefined ? { id } : { id, name };
    }
    const typed = ref.reference === undefined ? null : TYPED_REFERENCE.exec(ref.reference);
    if (target === undefined && typed?.[1] === 'Practitioner' && typed[2] !== undefined) {
      const name = nonEmpty(ref.display);
      return name === undefined ? { id: typed[2] } : { id: typed[2], name };
    }
  }
  return undefined;
}

function preferredName(names: FhirHumanName[] | undefined): FhirHumanName | undefined {
  return names?.find((n) => n.use === 'official') ?? names?.find((n) => n.use === 'usual') ?? names?.[0];
}

function personName(name: FhirHumanName | undefined): string | undefined {
  if (name === undefined) return undefined;
  const parts = [...(name.given ?? []).slice(0, 1), name.family ?? ''].filter((p) => p.trim() !== '');
  return parts.length > 0 ? parts.join(' ') : nonEmpty(name.text);
}

function firstCode(concept: FhirCodeableConcept): string | undefined {
  return concept.coding?.map((c) => nonEmpty(c.code)).find((c) => c !== undefined);
}

function conceptText(concept: FhirCodeableConcept): string | undefined {
  return nonEmpty(concept.text) ?? concept.coding?.map((c) => nonEmpty(c.display)).find((d) => d !== undefined);
}

function describeReference(ref: FhirReference | undefined): string {
  return ref?.reference === undefined ? '(no reference)' : JSON.stringify(ref.reference.slice(0, 100));
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text.trim() === '' ? undefined : text.trim();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses one resource by its resourceType; other types are ignored (undefined, no problem). */
function parseResource(raw: unknown, path: string, problems: FhirProblem[]): Parsed | undefined {
  const type = isObject(raw) ? raw.resourceType : undefined;
  switch (type) {
    case 'DiagnosticReport': {
      const resource = validate(DiagnosticReportSchema, raw, path, problems);
      return resource === undefined ? undefined : { kind: type, path, resource };
    }
    case 'Observation': {
      const resource = validate(ObservationSchema, raw, path, problems);
      return resource === undefined ? undefined : { kind: type, path, resource };
    }
    case 'Patient': {
      const resource = validate(PatientSchema, raw, path, problems);
      return resource === undefined ? undefined : { kind: type, path, resource };
    }
    case 'Practitioner': {
      const resource = validate(PractitionerSchema, raw, path, problems);
      return resource === undefined ? undefined : { kind: type, path, resource };
    }
    default:
      return undefined;
  }
}

function validate<T extends z.ZodType>(
  schema: T,
  raw: unknown,
  path: string,
  problems: FhirProblem[],
): z.infer<T> | undefined {
  const parsed = schema.safeParse(raw, { error: issueMessage });
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    problems.push({ path: joinPath(path, issue.path), message: issue.message });
  }
  return undefined;
}

/** Short messages in the brief's style: `missing`, `must be a string`, `must be one of a, b`. */
function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'missing';
    return `must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
  }
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.map(String).join(', ')}`;
  return undefined;
}

function joinPath(prefix: string, path: PropertyKey[]): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}
