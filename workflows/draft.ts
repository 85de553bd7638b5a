import type { PracticePolicy } from '../domain/practice';
import type { AuditAction, AuditActor, JsonValue } from '../domain/audit-event';
import type { Command } from './commands';
import type { Channel } from './definitions';
import type { Model } from './model';
import { CURRENT_BEHAVIOUR, type PatchFlags } from './patches';

/** Fixed facts of one run that every decision may use. */
export interface DecisionContext {
  workflowId: string;
  /** Part of every audit idempotency key: a later run with the same workflow ID must not collide. */
  runId: string;
  /** The opaque digest in the workflow ID, for audit rows. */
  resultRef?: string;
  policy: PracticePolicy;
}

/** How many action records the status query keeps (the newest); the audit log has them all. */
export const MAX_ACTION_RECORDS = 200;

export interface AuditEntry {
  action: AuditAction;
  outcome: string;
  actor?: AuditActor;
  channel?: Channel;
  template?: string;
  variant?: string;
  details?: Record<string, JsonValue | undefined>;
  /** For the status query's action list: a staff/provider/message ID, never PHI. */
  ref?: string;
}

/**
 * The patient this run's result belongs to: the one its versions were taken in for, or, before it
 * took any in (every version so far was refused), the one the earlier run was established for.
 */
export function establishedPatientId(m: Model): string | undefined {
  if (m.version === m.versionBase && m.priorRun?.patientId !== undefined) return m.priorRun.patientId;
  return m.result.patient.id !== '' ? m.result.patient.id : undefined;
}

const SYSTEM: AuditActor = { type: 'system', id: 'lab-result-workflow' };

/**
 * One decision in progress: the model being changed, the commands being collected and the time of
 * the event. Every module of the decision core works on a Draft.
 */
export class Draft {
  readonly commands: Command[] = [];

  constructor(
    readonly m: Model,
    readonly ctx: DecisionContext,
    readonly now: string,
    /** Which patched behaviours apply (patches.ts): evaluated by the shell, never by the core. */
    readonly patches: PatchFlags = CURRENT_BEHAVIOUR,
  ) {}

  get policy(): PracticePolicy {
    return this.ctx.policy;
  }

  emit(command: Command): void {
    this.commands.push(command);
  }

  /**
   * Record a decision in the audit log (through the bookkeeping lane) and in the status query's
   * action list. The idempotency key is the run and a run-local sequence number, so a retried
   * append never writes twice and a replay produces the same keys.
   */
  audit(entry: AuditEntry): void {
    this.m.auditSeq += 1;
    const details: Record<string, JsonValue> = { version: this.m.version };
    for (const [k, v] of Object.entries(entry.details ?? {})) if (v !== undefined) details[k] = v;
    const patientId = establishedPatientId(this.m);
    this.emit({
      type: 'audit',
      event: {
        occurredAt: this.now,
        practiceId: this.policy.practiceId,
        workflowId: this.ctx.workflowId,
        ...(this.ctx.resultRef !== undefined ? { resultRef: this.ctx.resultRef } : {}),
        ...(patientId !== undefined ? { patientId } : {}),
        actor: entry.actor ?? SYSTEM,
        action: entry.action,
        ...(entry.channel !== undefined ? { channel: entry.channel } : {}),
        ...(entry.template !== undefined ? { template: entry.template } : {}),
        ...(entry.variant !== undefined ? { variant: entry.variant } : {}),
        outcome: entry.outcome,
        details,
        idempotencyKey: `${this.ctx.workflowId}:${this.ctx.runId}:${this.m.auditSeq}`,
      },
    });
    this.m.actions.push({
      at: this.now,
      kind: entry.action,
      ...(entry.channel !== undefined ? { channel: entry.channel } : {}),
      outcome: entry.outcome,
      ...(entry.ref !== undefined ? { ref: entry.ref } : {}),
    });
    if (this.m.actions.length > MAX_ACTION_RECORDS)
      this.m.actions.splice(0, this.m.actions.length - MAX_ACTION_RECORDS);
  }

  /** Milliseconds of `iso` (all model times are valid ISO instants). */
  static ms(iso: string): number {
    return Date.parse(iso);
  }

  /** `now` plus `minutes` wall-clock minutes. */
  plusMinutes(minutes: number): string {
    return new Date(Date.parse(this.now) + minutes * 60_000).toISOString();
  }

  isDue(iso: string | undefined): boolean {
    return iso !== undefined && Date.parse(iso) <= Date.parse(this.now);
  }
}
