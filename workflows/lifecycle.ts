import type { Draft } from './draft';
import type { Model } from './model';
import { isOpenCallTask } from './staff';
import { reviewItemOf } from './view';

/**
 * How long a workflow stays open after everything owed for its result was done, to catch a
 * correction or a cancel on the same workflow (with its history, signature and "patient already
 * told" state at hand). 30 days covers the corrections labs send in practice (amended reports come
 * within days or a few weeks). A version arriving later starts a new run under the same workflow
 * ID, which reads the outbox (findPriorRuns) to number its versions after the earlier run's and to
 * know whether the patient was told.
 */
export const CORRECTION_WINDOW_DAYS = 30;
const CORRECTION_WINDOW_MS = CORRECTION_WINDOW_DAYS * 24 * 60 * 60_000;

/** Nothing is owed for the current gate: signed, routed, nothing waiting to be sent, nobody to call. */
export function isSettled(m: Model): boolean {
  const gate = m.gate;
  if (!m.ready || gate.signature === undefined || gate.routing !== 'planned') return false;
  if (m.result.status !== 'final' && m.result.status !== 'corrected') return false;
  if (gate.unreadCallAt !== undefined) return false;
  if (
    m.deliveries.some(
      (x) => x.state === 'scheduling' || x.state === 'held' || x.state === 'sending' || x.state === 'cancelling',
    )
  )
    return false;
  if (m.pages.some((p) => p.state === 'sending' || p.sms === 'sending')) return false;
  return !m.callTasks.some(isOpenCallTask);
}

/** Work the core itself is waiting on (the shell also waits for its own in-flight commands). */
function hasPendingWork(m: Model): boolean {
  return (
    m.deliveries.some((x) => x.state === 'scheduling' || x.state === 'sending' || x.state === 'cancelling') ||
    m.pages.some((p) => p.state === 'sending' || p.sms === 'sending') ||
    m.callTasks.some((t) => t.state === 'creating') ||
    (m.gate.criticalSince !== undefined && m.gate.onCallStaffId === undefined && !m.cancelled)
  );
}

/** After every event: keep the correction window, close when it has passed, sync the review item. */
export function settle(d: Draft): void {
  const { m } = d;
  if (!m.ready) return;
  if (!m.cancelled) {
    if (isSettled(m)) {
      if (m.settledAt === undefined) {
        m.settledAt = d.now;
        m.closeAt = new Date(Date.parse(d.now) + CORRECTION_WINDOW_MS).toISOString();
      }
    } else {
      m.settledAt = undefined;
      m.closeAt = undefined;
    }
  }
  if (!m.closed && d.isDue(m.closeAt) && !hasPendingWork(m)) {
    m.closed = true;
    m.actions.push({ at: d.now, kind: 'close', outcome: m.cancelled ? 'cancelled' : 'correction-window-over' });
    d.emit({ type: 'closePatient', workflowId: d.ctx.workflowId });
  }
  if (m.version > m.versionBase) {
    const item = reviewItemOf(m, d.ctx);
    const json = JSON.stringify(item);
    if (json !== m.lastReviewItem) {
      m.lastReviewItem = json;
      d.emit({ type: 'reviewItem', item });
    }
  }
}

/** The earliest instant at which something becomes due, if any. */
export function nextWakeAt(m: Model): string | undefined {
  const candidates: string[] = [];
  const gate = m.gate;
  if (!m.cancelled && gate.signature === undefined && gate.nextEscalationAt !== undefined) {
    candidates.push(gate.nextEscalationAt);
  }
  for (const x of m.deliveries) if (x.state === 'held' && x.dueAt !== undefined) candidates.push(x.dueAt);
  for (const t of m.callTasks) {
    if (isOpenCallTask(t) && !t.escalated && t.escalateAt !== undefined) candidates.push(t.escalateAt);
  }
  for (const p of m.pages) {
    if (p.critical === true && p.state === 'sending' && p.sms === undefined && p.smsFallbackAt !== undefined)
      candidates.push(p.smsFallbackAt);
  }
  if (gate.unreadCallAt !== undefined && !m.cancelled) candidates.push(gate.unreadCallAt);
  if (m.closeAt !== undefined && !m.closed) candidates.push(m.closeAt);
  if (candidates.length === 0) return undefined;
  return candidates.reduce((a, b) => (Date.parse(a) <= Date.parse(b) ? a : b));
}
