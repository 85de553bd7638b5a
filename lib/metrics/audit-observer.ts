import type { Pool } from 'pg';
import { reviewTimesOf, type ReviewTimes } from '../review/queue';
import type { AuditEventInput, AuditSink } from '../audit/types';
import {
  ambiguousSends,
  criticalPageToCall,
  deliveries,
  deliveryReports,
  escalations,
  fallbacks,
  signOffLatency,
  slaBreaches,
  timeToNotify,
} from './series';
import { secondsBetween } from './registry';

/**
 * Result metrics from the audit log's own events. Every decision of a result workflow reaches the
 * audit log through the appendAudit activity, and every send through the outbox's audit rows, each
 * with an idempotency key; an append that returns `duplicate` (a retried activity) is not counted
 * again. So wrapping the worker's AuditSink counts each decision once, outside workflow code (which
 * must stay deterministic), with no hook in the workflows. Times the event lacks (when the result
 * was received, when the on-call provider was paged) come from the review queue's row of the
 * workflow (review_item), which the workflow keeps current through upsertReviewItem.
 *
 * Observation never delays or fails the append: it runs after it, and its errors are dropped (a
 * metric is not worth a retried send).
 */

/** The actor of the workflow's own audit events (workflows/draft.ts). */
const WORKFLOW_ACTOR_ID = 'lab-result-workflow';

/**
 * A result that arrives signed is signed in the same workflow step that first writes its review
 * row, and the sign-off's audit event runs just before that row's upsert: look again briefly.
 */
const REVIEW_ROW_LOOKUPS = 5;
const REVIEW_ROW_RETRY_MS = 500;

export interface AuditMetricsOptions {
  /** Called when an observation failed (a database error); default: ignored. */
  onError?: (err: unknown) => void;
  /** Tests wait for pending observations. */
  track?: (pending: Promise<void>) => void;
}

/** `sink`, with every newly appended event also observed as metrics. */
export function withAuditMetrics(sink: AuditSink, pool: Pool, options: AuditMetricsOptions = {}): AuditSink {
  return {
    async append(event) {
      const result = await sink.append(event);
      if (!result.duplicate) {
        const pending = observeAuditEvent(pool, event).catch((err: unknown) => options.onError?.(err));
        options.track?.(pending);
      }
      return result;
    },
  };
}

/** Record what one newly appended audit event means for the metrics. */
export async function observeAuditEvent(pool: Pool, event: AuditEventInput): Promise<void> {
  const practice = event.practiceId ?? undefined;
  const channel = event.channel;
  const review = () => reviewRow(pool, event.workflowId);
  switch (event.action) {
    case 'send':
    case 'page': {
      deliveries.inc({ practice, channel, outcome: event.outcome });
      if (event.outcome === 'ambiguous') ambiguousSends.inc({ practice, channel });
      const told =
        (channel === 'spruce' && (event.outcome === 'sent' || event.outcome === 'reconciled')) ||
        (channel === 'portal' && event.outcome === 'published');
      if (told && event.action === 'send') {
        const row = await review();
        const at = channel === 'portal' ? (stringDetail(event, 'publishedAt') ?? event.occurredAt) : event.occurredAt;
        if (row !== undefined)
          timeToNotify.observe({ practice, acuity: row.acuity, channel }, secondsBetween(row.received_at, at));
      }
      return;
    }
    case 'delivery-status': {
      // The workflow's own row for a report it applied (the webhook's row is the provider's view).
      if (event.actor.id !== WORKFLOW_ACTOR_ID) return;
      deliveryReports.inc({ practice, channel, outcome: event.outcome });
      if (channel === 'sms' && event.outcome === 'delivered' && event.template !== 'consent-invitation') {
        const row = await review();
        if (row !== undefined)
          timeToNotify.observe(
            { practice, acuity: row.acuity, channel },
            secondsBetween(row.received_at, event.occurredAt),
          );
      }
      return;
    }
    case 'fallback':
      fallbacks.inc({ practice, reason: event.outcome });
      return;
    case 'escalation': {
      const rung = /^level-(\d+)$/.exec(event.outcome)?.[1];
      const level = rung ?? (event.outcome.startsWith('call-') ? 'call' : undefined);
      if (level === undefined) return;
      const acuity = (await review())?.acuity ?? 'unknown';
      escalations.inc({ practice, acuity, level });
      if (rung === '1') slaBreaches.inc({ practice, acuity });
      return;
    }
    case 'sign-off': {
      const row = await review();
      if (row !== undefined)
        signOffLatency.observe({ practice, acuity: row.acuity }, secondsBetween(row.received_at, event.occurredAt));
      return;
    }
    case 'call-task': {
      const outcome = /^completed-(.+)$/.exec(event.outcome)?.[1];
      if (outcome === undefined || event.details?.reason !== 'critical-result') return;
      const row = await review();
      if (row?.critical_paged_at != null)
        criticalPageToCall.observe({ practice, outcome }, secondsBetween(row.critical_paged_at, event.occurredAt));
      return;
    }
    // Everything else is not a series of its own (see docs/operations.md "Metrics").
    case 'annotation':
    case 'cancel':
    case 'consent-change': // counted where the record changes (lib/consent/apply-change.ts)
    case 'correction':
    case 'export':
    case 'hold':
    case 'ingest': // counted at the ingest routes (api/routes/metrics.ts)
    case 'patient-reply':
    case 'phi-access':
    case 'phi-rewrite':
    case 'release':
    case 'routing-decision':
    case 'send-intent':
      return;
  }
}

function stringDetail(event: AuditEventInput, key: string): string | undefined {
  const value = event.details?.[key];
  return typeof value === 'string' ? value : undefined;
}

async function reviewRow(pool: Pool, workflowId: string | undefined): Promise<ReviewTimes | undefined> {
  if (workflowId === undefined) return undefined;
  for (let attempt = 1; ; attempt++) {
    const row = await reviewTimesOf(pool, workflowId);
    if (row !== undefined || attempt >= REVIEW_ROW_LOOKUPS) return row;
    await new Promise((resolve) => setTimeout(resolve, REVIEW_ROW_RETRY_MS));
  }
}
