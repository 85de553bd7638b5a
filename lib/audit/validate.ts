import { z } from 'zod';
import { CHANNELS } from '../../domain/vocabulary';
import { canonicalJson, hasLoneSurrogate, isPlainObject } from './canonical-json';
import { AUDIT_ACTIONS, AUDIT_ACTOR_TYPES, type AuditEventInput, type AuditRecord, type JsonValue } from './types';

/**
 * Audit details are identifiers, codes and counts. 16 KiB of canonical JSON is far above any
 * legitimate event (a few hundred bytes) and stops a caller from dumping a whole payload, which is
 * where PHI would hide.
 */
export const MAX_DETAILS_BYTES = 16 * 1024;
/** Nesting deeper than this is a dumped structure, not audit details. */
export const MAX_DETAILS_DEPTH = 8;
/** Identifiers (workflow IDs are ~100 characters) and outcome tokens fit easily. */
const MAX_TEXT = 256;

/** Bad input to the audit log; `problems` names each bad field. */
export class AuditInputError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid audit event:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'AuditInputError';
  }
}

/**
 * Text that PostgreSQL stores and returns unchanged, so the hash of what we send equals the hash
 * of what is read back: no NUL (PostgreSQL refuses it), no lone surrogate (UTF-8 encoding would turn
 * it into U+FFFD), and never empty (a CSV export could not tell '' from null).
 */
const text = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`)
  .refine((s) => !s.includes('\u0000'), 'must not contain a NUL character')
  .refine((s) => !hasLoneSurrogate(s), 'must be well-formed Unicode (it has a lone surrogate)');

const EventSchema = z
  .object({
    occurredAt: z.iso.datetime({ offset: true, error: 'must be an ISO-8601 date-time with a UTC offset or Z' }),
    practiceId: text.nullable(),
    workflowId: text.optional(),
    resultRef: text.optional(),
    patientId: text.optional(),
    actor: z.object({ type: z.enum(AUDIT_ACTOR_TYPES), id: text }),
    action: z.enum(AUDIT_ACTIONS),
    channel: z.enum(CHANNELS).optional(),
    template: text.optional(),
    variant: text.optional(),
    outcome: text,
    details: z.unknown().optional(),
    idempotencyKey: text.optional(),
  })
  .refine((e) => e.practiceId !== null || e.action === 'export' || e.action === 'phi-access', {
    message: "is required (only 'export' and 'phi-access' events may lack a practice)",
    path: ['practiceId'],
  });

/** The validated event as it will be stored; what the chain adds (seq, recorded_at, hashes) comes later. */
export type NormalizedEvent = Omit<AuditRecord, 'seq' | 'recorded_at' | 'prev_hash'>;

/** Validate an event and put it in stored form; throws AuditInputError naming every problem. */
export function normalizeEvent(input: AuditEventInput): NormalizedEvent {
  const parsed = EventSchema.safeParse(input);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.') || '(event)'}: ${issue.message}`);
  const details = input.details ?? {};
  problems.push(...detailsProblems(details));
  if (!parsed.success || problems.length > 0) throw new AuditInputError(problems);
  const e = parsed.data;
  return {
    // Milliseconds: the stored precision (a CHECK constraint) and the hashed form.
    occurred_at: new Date(e.occurredAt).toISOString(),
    practice_id: e.practiceId,
    workflow_id: e.workflowId ?? null,
    result_ref: e.resultRef ?? null,
    patient_id: e.patientId ?? null,
    actor_type: e.actor.type,
    actor_id: e.actor.id,
    action: e.action,
    channel: e.channel ?? null,
    template: e.template ?? null,
    variant: e.variant ?? null,
    outcome: e.outcome,
    details: details,
    idempotency_key: e.idempotencyKey ?? null,
  };
}

function detailsProblems(details: unknown): string[] {
  if (typeof details !== 'object' || details === null || Array.isArray(details) || !isPlainObject(details))
    return ['details: must be a plain JSON object'];
  const problems: string[] = [];
  checkJson(details, 'details', 0, problems);
  if (problems.length === 0) {
    const bytes = Buffer.byteLength(canonicalJson(details as JsonValue), 'utf8');
    if (bytes > MAX_DETAILS_BYTES)
      problems.push(`details: ${bytes} bytes of JSON, more than the ${MAX_DETAILS_BYTES} allowed`);
  }
  return problems;
}

function checkJson(value: unknown, path: string, depth: number, problems: string[]): void {
  if (depth > MAX_DETAILS_DEPTH) {
    problems.push(`${path}: nested deeper than ${MAX_DETAILS_DEPTH} levels`);
    return;
  }
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) problems.push(`${path}: ${value} is not a finite number`);
    return;
  }
  if (typeof value === 'string') {
    // jsonb refuses \u0000; a lone surrogate has no UTF-8 form.
    if (value.includes('\u0000')) problems.push(`${path}: must not contain a NUL character`);
    if (hasLoneSurrogate(value)) problems.push(`${path}: must be well-formed Unicode (it has a lone surrogate)`);
    return;
  }
  if (Array.isArray(value)) {
    // An index loop, not forEach: a hole in a sparse array must be reported, not skipped.
    for (let i = 0; i < value.length; i++) checkJson(value[i], `${path}[${i}]`, depth + 1, problems);
    return;
  }
  if (typeof value === 'object' && isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\u0000') || hasLoneSurrogate(key))
        problems.push(`${path}: key ${JSON.stringify(key)} is not storable`);
      checkJson(item, `${path}.${key}`, depth + 1, problems);
    }
    return;
  }
  problems.push(`${path}: ${typeof value === 'object' ? 'a non-plain object' : typeof value} is not JSON`);
}
