import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReviewItemActivities } from '../../activities/review-items';
import { createAuditLog, type AuditEventInput } from '../../lib/audit';
import { withAuditMetrics } from '../../lib/metrics/audit-observer';
import { allowPracticeLabels } from '../../lib/metrics/labels';
import { startOpsServer } from '../../lib/metrics/ops-server';
import { registry } from '../../lib/metrics/registry';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * Result metrics from the audit log's events (lib/metrics/audit-observer.ts), on a real
 * PostgreSQL: each newly appended event is counted once (a retried append, `duplicate`, is not),
 * latencies are measured from the review queue's row, and events that are not the workflow's own
 * view (a webhook's delivery row) are not counted twice. And the small listener that serves them.
 */

const PRACTICE = 'observer-practice';

/** The current value of one series (summed over samples whose labels include `where`). */
async function value(name: string, where: Record<string, string>, sample = name): Promise<number> {
  const metric = registry.getSingleMetric(name);
  const values = (await metric?.get())?.values ?? [];
  return values
    .filter(
      (v) =>
        ((v as { metricName?: string }).metricName ?? name) === sample &&
        Object.entries(where).every(([k, x]) => v.labels[k] === x),
    )
    .reduce((sum, v) => sum + v.value, 0);
}

describe('metrics from audit events', () => {
  let db: TestDatabase;
  const pending: Promise<void>[] = [];
  let sink: ReturnType<typeof withAuditMetrics>;
  const workflowId = `lab-result-${PRACTICE}-${randomBytes(10).toString('hex')}`;
  const received = new Date(Date.now() - 3_600_000);
  const settled = async () => {
    await Promise.all(pending.splice(0));
  };
  let seq = 0;
  const event = (overrides: Partial<AuditEventInput>): AuditEventInput => ({
    occurredAt: new Date(received.getTime() + 600_000).toISOString(),
    practiceId: PRACTICE,
    workflowId,
    patientId: 'MRN-OBS-1',
    actor: { type: 'system', id: 'lab-result-workflow' },
    action: 'routing-decision',
    outcome: 'x',
    idempotencyKey: `${workflowId}:run:${++seq}`,
    ...overrides,
  });

  before(async () => {
    db = await createTestDatabase('metrics_observer');
    allowPracticeLabels([PRACTICE]);
    sink = withAuditMetrics(createAuditLog(db.pool), db.pool, { track: (p) => pending.push(p) });
    await createReviewItemActivities({ pool: db.pool }).upsertReviewItem({
      workflowId,
      practiceId: PRACTICE,
      patientId: 'MRN-OBS-1',
      acuity: 'critical',
      resultStatus: 'final',
      state: 'critical-call',
      signed: false,
      receivedAt: received.toISOString(),
      escalationLevel: 0,
      criticalPagedAt: new Date(received.getTime() + 60_000).toISOString(),
      version: 1,
    });
  });
  after(async () => {
    await db?.close();
  });

  it('sign-off latency from the review row, counted once however often the append is retried', async () => {
    const signed = event({ action: 'sign-off', actor: { type: 'provider', id: 'prov-1' }, outcome: 'signed' });
    const sumBefore = await value(
      'labloop_sign_off_latency_seconds',
      { acuity: 'critical' },
      'labloop_sign_off_latency_seconds_sum',
    );
    await sink.append(signed);
    await sink.append(signed);
    await settled();
    assert.equal(
      await value(
        'labloop_sign_off_latency_seconds',
        { practice: PRACTICE, acuity: 'critical' },
        'labloop_sign_off_latency_seconds_count',
      ),
      1,
    );
    assert.equal(
      (await value(
        'labloop_sign_off_latency_seconds',
        { acuity: 'critical' },
        'labloop_sign_off_latency_seconds_sum',
      )) - sumBefore,
      600,
    );
  });

  it('sends, delivery reports (the workflow’s, not the webhook’s), ambiguous sends and time to notify', async () => {
    await sink.append(
      event({
        actor: { type: 'system', id: 'worker' },
        action: 'send',
        channel: 'sms',
        template: 'results-ready',
        outcome: 'ambiguous',
      }),
    );
    const delivered = {
      action: 'delivery-status' as const,
      channel: 'sms' as const,
      template: 'results-ready',
      outcome: 'delivered',
    };
    await sink.append(event({ ...delivered, actor: { type: 'system', id: 'twilio' } }));
    await sink.append(event(delivered));
    await sink.append(event({ ...delivered, template: 'consent-invitation' }));
    await settled();
    assert.equal(
      await value('labloop_deliveries_total', { practice: PRACTICE, channel: 'sms', outcome: 'ambiguous' }),
      1,
    );
    assert.equal(await value('labloop_ambiguous_sends_total', { practice: PRACTICE, channel: 'sms' }), 1);
    assert.equal(
      await value('labloop_delivery_reports_total', { practice: PRACTICE, channel: 'sms', outcome: 'delivered' }),
      2,
    );
    const told = { practice: PRACTICE, acuity: 'critical', channel: 'sms' };
    assert.equal(
      await value('labloop_time_to_notify_seconds', told, 'labloop_time_to_notify_seconds_count'),
      1,
      'the invitation told nobody about a result',
    );
    assert.equal(await value('labloop_time_to_notify_seconds', told, 'labloop_time_to_notify_seconds_sum'), 600);
  });

  it('portal publication, fallbacks, escalations and SLA breaches, the critical call', async () => {
    await sink.append(
      event({
        actor: { type: 'system', id: 'worker' },
        action: 'send',
        channel: 'portal',
        outcome: 'published',
        details: { publishedAt: new Date(received.getTime() + 1_200_000).toISOString() },
      }),
    );
    await sink.append(
      event({
        actor: { type: 'system', id: 'worker' },
        action: 'send',
        channel: 'spruce',
        template: 'spruce-result',
        outcome: 'sent',
      }),
    );
    // A page to staff tells no patient.
    await sink.append(
      event({
        actor: { type: 'system', id: 'worker' },
        action: 'page',
        channel: 'page',
        template: 'page-critical-result',
        outcome: 'sent',
      }),
    );
    await sink.append(event({ action: 'fallback', channel: 'sms', outcome: 'sms-outage' }));
    await sink.append(event({ action: 'fallback', outcome: 'free text the guard must not keep' }));
    await sink.append(event({ action: 'escalation', outcome: 'level-1', details: { level: 1 } }));
    await sink.append(event({ action: 'escalation', outcome: 'level-2', details: { level: 2 } }));
    await sink.append(event({ action: 'escalation', channel: 'call', outcome: 'call-not-completed-in-time' }));
    await sink.append(
      event({
        action: 'call-task',
        channel: 'call',
        actor: { type: 'staff', id: 'nurse-1' },
        outcome: 'completed-reached',
        details: { reason: 'critical-result' },
      }),
    );
    await settled();
    const portal = { practice: PRACTICE, acuity: 'critical', channel: 'portal' };
    assert.equal(await value('labloop_time_to_notify_seconds', portal, 'labloop_time_to_notify_seconds_sum'), 1200);
    const spruce = { practice: PRACTICE, acuity: 'critical', channel: 'spruce' };
    assert.equal(await value('labloop_time_to_notify_seconds', spruce, 'labloop_time_to_notify_seconds_sum'), 600);
    assert.equal(
      await value('labloop_time_to_notify_seconds', { channel: 'page' }, 'labloop_time_to_notify_seconds_count'),
      0,
    );
    assert.equal(await value('labloop_deliveries_total', { practice: PRACTICE, channel: 'page', outcome: 'sent' }), 1);
    assert.equal(await value('labloop_fallbacks_total', { practice: PRACTICE, reason: 'sms-outage' }), 1);
    assert.equal(await value('labloop_fallbacks_total', { practice: PRACTICE, reason: 'other' }), 1);
    assert.equal(await value('labloop_sla_breaches_total', { practice: PRACTICE, acuity: 'critical' }), 1);
    for (const level of ['1', '2', 'call'])
      assert.equal(
        await value('labloop_escalations_total', { practice: PRACTICE, acuity: 'critical', level }),
        1,
        level,
      );
    // Paged a minute after it was received, the call completed at ten minutes: nine minutes.
    const call = { practice: PRACTICE, outcome: 'reached' };
    assert.equal(
      await value('labloop_critical_page_to_call_seconds', call, 'labloop_critical_page_to_call_seconds_sum'),
      540,
    );
  });

  it('an observation that fails never fails the append', async () => {
    const errors: unknown[] = [];
    const broken = { query: () => Promise.reject(new Error('database gone')) } as unknown as typeof db.pool;
    const local: Promise<void>[] = [];
    const failing = withAuditMetrics(createAuditLog(db.pool), broken, {
      onError: (e) => errors.push(e),
      track: (p) => local.push(p),
    });
    const appended = await failing.append(
      event({ action: 'sign-off', actor: { type: 'provider', id: 'prov-1' }, outcome: 'signed' }),
    );
    await Promise.all(local);
    assert.equal(appended.duplicate, false);
    assert.equal(errors.length, 1);
  });
});

describe('the operators’ listener', () => {
  it('serves /metrics on an internal bind, asks for a token when told to, and answers health', async () => {
    let ready = true;
    const open = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      tokens: new Map(),
      metrics: () => registry.metrics(),
      contentType: registry.contentType,
      health: {
        live: () => true,
        ready: () => Promise.resolve({ ready, checks: { temporal: ready ? 'ok' : 'down' } }),
      },
    });
    const guarded = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      tokens: new Map([['scrape-token-1234', 'prometheus']]),
      tokenRequired: true,
      metrics: () => registry.metrics(),
      contentType: registry.contentType,
    });
    try {
      const scraped = await fetch(`${open.url}/metrics`);
      assert.equal(scraped.status, 200);
      assert.match(await scraped.text(), /^# TYPE labloop_deliveries_total counter$/m);
      assert.equal((await fetch(`${open.url}/livez`)).status, 200);
      assert.equal((await fetch(`${open.url}/readyz`)).status, 200);
      ready = false;
      assert.equal((await fetch(`${open.url}/readyz`)).status, 503);
      const missing = await fetch(`${open.url}/patients/Whitcombe`);
      assert.equal(missing.status, 404);
      assert.ok(!(await missing.text()).includes('Whitcombe'), 'a 404 does not echo the path');
      const refused = await fetch(`${guarded.url}/metrics`);
      assert.equal(refused.status, 401);
      assert.match(await refused.text(), /LABLOOP_METRICS_TOKENS/);
      assert.equal((await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      const allowed = await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer scrape-token-1234' } });
      assert.equal(allowed.status, 200);
      assert.equal((await fetch(`${guarded.url}/readyz`)).status, 404, 'no health routes where none were given');
    } finally {
      await open.close();
      await guarded.close();
    }
  });
});
