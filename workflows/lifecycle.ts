import { contentDigest } from './content-digest';
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

/**
 * Every version this run received was refused (another patient than the earlier run's): it has no
 * result of its own to hold open, and closes as soon as its pages are out.
 */
function tookNothingIn(m: Model): boolean {
  return m.ready && m.version === m.versionBase && m.inbox.length === 0;
}

/** After every event: keep the correction window, close when it has passed, sync the review item. */
export function settle(d: Draft): void {
  const { m } = d;
  if (!m.ready) return;
  if (tookNothingIn(m)) m.closeAt ??= d.now;
  else if (!m.cancelled) {
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
    auditClose(d);
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

/**
 * Closing is a routing decision like any other, and its row is what the next run with this workflow
 * ID reads (findPriorRuns): the digest of the last version's content, its status and the patient
 * it was established for. A run that took nothing in hands on what the earlier run ended with.
 * IDs, codes and a digest only.
 */
function auditClose(d: Draft): void {
  const { m } = d;
  const empty = m.version === m.versionBase;
  const reason = empty ? 'nothing-taken-in' : m.cancelled ? 'cancelled' : 'correction-window-over';
  const digest = empty ? m.priorRun?.contentDigest : contentDigest(d.ctx.workflowId, m.contentKey);
  const status = empty ? m.priorRun?.status : m.result.status;
  d.audit({
    action: 'routing-decision',
    outcome: 'closed',
    details: {
      reason,
      lastVersion: m.version,
      lastStatus: status,
      contentDigest: digest,
      patientToldVersion: m.patientToldVersion,
      epoch: m.gate.epoch,
    },
  });
}
