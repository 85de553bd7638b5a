import type { PracticePolicy } from '../domain/practice';
import type { WaitingOn } from './definitions';
import { ladderOf } from './gate';
import type { Model } from './model';
import { isOpenCallTask } from './staff';

/**
 * Why a run is still open, as data: every timed wait (the sources of the run's one timer) and every
 * untimed one (a person, the lab, or an activity). The shell sets its timer for the earliest timed
 * wait and names it in the timer's summary, states the whole list in the workflow's current details
 * after each decision, and the status query returns it as `waitingOn`; docs/workflow.md has the
 * table an on-call engineer reads it with. IDs only (staff IDs, steps, call task IDs, gates).
 */

/** The run's next wake-up: when, and what for. */
export interface Wake {
  at: string;
  waitingOn: WaitingOn;
}

function stepRef(version: number, step: string): string {
  return `v${version}:${step}`;
}

/** Timed waits: each fires the run's timer by itself (unsorted). */
function timedWaits(m: Model, policy: PracticePolicy): WaitingOn[] {
  const waits: WaitingOn[] = [];
  const gate = m.gate;
  if (!m.cancelled && gate.signature === undefined && gate.nextEscalationAt !== undefined) {
    const ladder = ladderOf(m, policy);
    const rung = gate.escalationLevel + 1;
    const staffId = ladder[Math.min(rung, ladder.length) - 1];
    waits.push({
      kind: rung > ladder.length ? 'overdue-repeat' : 'sign-off-escalation',
      until: gate.nextEscalationAt,
      ...(staffId !== undefined ? { ref: staffId } : {}),
    });
  }
  for (const x of m.deliveries) {
    if (x.state === 'held' && x.dueAt !== undefined)
      waits.push({ kind: 'quiet-hours', until: x.dueAt, ref: stepRef(x.version, x.step) });
  }
  for (const t of m.callTasks) {
    if (!isOpenCallTask(t)) continue;
    const ref = t.taskId ?? stepRef(t.version, t.step);
    if (!t.escalated && t.escalateAt !== undefined)
      waits.push({ kind: 'critical-call-escalation', until: t.escalateAt, ref });
    if (t.escalated && t.repeatAt !== undefined && !m.cancelled)
      waits.push({ kind: 'critical-call-repeat', until: t.repeatAt, ref });
  }
  for (const p of m.pages) {
    if (p.critical === true && p.state === 'sending' && p.sms === undefined && p.smsFallbackAt !== undefined)
      waits.push({ kind: 'critical-page-sms-fallback', until: p.smsFallbackAt, ref: stepRef(p.version, p.step) });
  }
  if (gate.unreadCallAt !== undefined && !m.cancelled)
    waits.push({ kind: 'unread-call', until: gate.unreadCallAt, ref: `gate-${gate.epoch}` });
  if (m.closeAt !== undefined && !m.closed) waits.push({ kind: 'correction-window', until: m.closeAt });
  return waits;
}

/** Untimed waits: somebody or something else has to act. */
function untimedWaits(m: Model): WaitingOn[] {
  if (m.closed) return [];
  if (!m.ready) return [{ kind: 'earlier-runs' }];
  const waits: WaitingOn[] = [];
  const gate = m.gate;
  const gateRef = `gate-${gate.epoch}`;
  const tookIn = m.version > m.versionBase;
  if (tookIn && !m.cancelled) {
    if (m.result.status === 'preliminary') waits.push({ kind: 'final-version', ref: gateRef });
    if (gate.signature === undefined) waits.push({ kind: 'sign-off', ref: gateRef });
    if (gate.deadlinePending) waits.push({ kind: 'deadline', ref: gateRef });
    if (gate.criticalSince !== undefined && gate.onCallStaffId === undefined)
      waits.push({ kind: 'on-call-rota', ref: gateRef });
  }
  for (const x of m.deliveries) {
    if (x.state === 'scheduling' || x.state === 'sending' || x.state === 'cancelling')
      waits.push({ kind: 'send', ref: stepRef(x.version, x.step) });
  }
  for (const p of m.pages) {
    if (p.state === 'sending') waits.push({ kind: 'page', ref: stepRef(p.version, p.step) });
    if (p.sms === 'sending') waits.push({ kind: 'page', ref: stepRef(p.version, `${p.step}-sms`) });
  }
  for (const t of m.callTasks) {
    if (t.state === 'creating') waits.push({ kind: 'call-task-creation', ref: stepRef(t.version, t.step) });
    if (t.state === 'open') waits.push({ kind: 'call-completion', ref: t.taskId ?? stepRef(t.version, t.step) });
  }
  return waits;
}

function earliestFirst(a: WaitingOn, b: WaitingOn): number {
  return Date.parse(a.until as string) - Date.parse(b.until as string);
}

/** Everything the run waits for: timed waits first, earliest first (a stable sort keeps ties in source order). */
export function waitingOn(m: Model, policy: PracticePolicy): WaitingOn[] {
  return [...timedWaits(m, policy).sort(earliestFirst), ...untimedWaits(m)];
}

/** The earliest instant at which something becomes due, and what it is; undefined when nothing is timed. */
export function nextWakeAt(m: Model, policy: PracticePolicy): Wake | undefined {
  const [first] = timedWaits(m, policy).sort(earliestFirst);
  return first?.until === undefined ? undefined : { at: first.until, waitingOn: first };
}

/** One line for a timer's summary or a list item: `kind ref at instant`. */
export function describeWait(w: WaitingOn): string {
  return [w.kind, w.ref, w.until !== undefined ? `at ${w.until}` : undefined].filter((x) => x !== undefined).join(' ');
}

/** The workflow's current details (Temporal UI, markdown): what it waits for, IDs only. */
export function currentDetailsOf(waits: readonly WaitingOn[]): string {
  if (waits.length === 0) return 'Waiting on nothing: finishing the work in flight.';
  return ['Waiting on (kinds: docs/workflow.md):', ...waits.map((w) => `- ${describeWait(w)}`)].join('\n');
}
