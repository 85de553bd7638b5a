import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DEFAULT_SERVICE_NUMBER } from '../../sandbox/fakes/twilio';
import type { Stack } from '../../sandbox/stack';
import { HOW_TO_GET_PROMTOOL, promtoolPath } from '../../lib/tools';
import {
  grantSmsConsent,
  postHl7,
  seedAthenaPatient,
  sendOverMllp,
  signOff,
  untilStatus,
  workflowIdOf,
} from '../fixtures/e2e/loop';
import { athenaLabResultSeed, oru, PATIENTS, phiOf } from '../fixtures/e2e/patients';
import { describeLeaks, fixturePhi, scanForPhi } from '../support/phi-scan';
import { eventually, startTestStack } from '../support/stack';

/**
 * Operators' metrics after an end-to-end run: both processes' `/metrics` (the API's, with the
 * unsigned backlog, and the worker's own port, with the Temporal SDK's runtime metrics) carry the
 * series docs/operations.md promises, with plausible values, no patient's name, phone number, test
 * name or value anywhere, and text that Prometheus's own checker (`promtool check metrics`, from
 * Debian's prometheus package) accepts.
 *
 * The run: an HL7 result signed in the review app and texted (sign-off latency, SMS delivered),
 * an athena result signed in the review app and published to the portal, one over MLLP, one left
 * unsigned (the backlog), a malformed message (a refusal), and a patient texting STOP (a consent
 * change).
 */

/** One sample line of the exposition text: its metric name, labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of a series' samples whose labels include `where`. */
function total(all: Sample[], name: string, where: Record<string, string> = {}): number {
  return all
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

function promtoolCheck(text: string): { ok: boolean; output: string } {
  const promtool = promtoolPath();
  assert.ok(promtool, `promtool is needed for the exposition-format check: ${HOW_TO_GET_PROMTOOL}`);
  const run = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

describe('metrics: both processes scraped after an end-to-end run', () => {
  const texted = PATIENTS.consented;
  const portal = PATIENTS.unconsented;
  const waiting = PATIENTS.lateEvening;
  const stopper = PATIENTS.stopKeyword;
  let stack: Stack;
  let api: string;
  let worker: string;

  const scrape = async (url: string, token?: string) => {
    const response = await fetch(`${url}/metrics`, {
      headers: token !== undefined ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
  };

  before(async () => {
    stack = await startTestStack({
      policyOverrides: { patientQuietHours: { start: '00:00', end: '00:00' }, smsConsentInvitation: false },
    });
    seedAthenaPatient(stack, portal);
    await grantSmsConsent(stack, texted);
    await grantSmsConsent(stack, stopper);

    // Signed in the review app, then texted and delivered.
    const hl7 = await postHl7(stack, oru('normal', texted, { accession: 'E2E-MET-1', controlId: 'E2E-MET-1-1' }));
    await untilStatus(stack, hl7.workflowId, 'awaiting sign-off', (v) => v.state === 'awaiting-sign-off');
    await signOff(stack, hl7.workflowId, 'prov-1');
    await untilStatus(stack, hl7.workflowId, 'the SMS delivered', (v) =>
      v.deliveries.some((d) => d.channel === 'sms' && d.status === 'delivered'),
    );
    // From athena, signed in the review app, published to the portal (no consent: no text).
    stack.fakes.athena.control.addLabResult(
      athenaLabResultSeed(portal, 'normal', { labResultId: '880190', signed: false }),
    );
    const portalId = workflowIdOf(stack, '880190');
    await untilStatus(stack, portalId, 'awaiting sign-off', (v) => v.state === 'awaiting-sign-off');
    await signOff(stack, portalId, 'prov-1');
    await untilStatus(stack, portalId, 'the portal note published', (v) =>
      v.deliveries.some((d) => d.channel === 'portal' && d.status !== 'pending'),
    );
    // Over MLLP, and left unsigned: the backlog.
    const waitingId = await sendOverMllp(
      stack,
      oru('abnormal', waiting, { accession: 'E2E-MET-2', controlId: 'E2E-MET-2-1' }),
      'E2E-MET-2',
    );
    await untilStatus(stack, waitingId, 'awaiting sign-off', (v) => v.state === 'awaiting-sign-off');
    // A malformed message: refused with a 400 naming the problem.
    const refused = await fetch(`${stack.urls.api}/v1/hl7`, {
      method: 'POST',
      headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${stack.secrets.apiToken}` },
      body: 'this is not HL7',
    });
    assert.equal(refused.status, 400);
    // The patient texts STOP.
    const inbound = await stack.fakes.twilio.simulateInbound({
      from: stopper.phone,
      to: DEFAULT_SERVICE_NUMBER,
      body: 'STOP',
    });
    assert.equal(inbound.webhookStatus, 200);
    api = stack.urls.api;
    worker = stack.urls.worker;
  });
  after(async () => {
    await stack?.stop();
  });

  it("the API's /metrics needs an operator token; the worker's, bound to loopback, does not", async () => {
    assert.equal((await scrape(api)).status, 401);
    assert.equal((await scrape(api, 'not-the-token')).status, 401);
    const ok = await scrape(api, stack.secrets.metricsToken);
    assert.equal(ok.status, 200);
    assert.match(ok.type, /^text\/plain; version=0\.0\.4/);
    assert.equal((await scrape(worker)).status, 200, 'loopback is an internal interface');
    // The API's internal listener (API_METRICS_PORT, loopback): the same text without a token.
    assert.ok(stack.urls.apiMetrics, 'the stack runs the internal listener');
    const internal = await scrape(stack.urls.apiMetrics);
    assert.equal(internal.status, 200);
    assert.match(internal.text, /^# TYPE labloop_unsigned_backlog gauge$/m);
  });

  it('carries every promised series, with plausible values', async () => {
    // Observations land just after the activity that appended the audit row: wait for the last ones.
    const all = await eventually(
      async () => {
        const found = samples((await scrape(api, stack.secrets.metricsToken)).text);
        // The backlog is read at most every 15 s (lib/metrics/backlog.ts): an early scrape may have cached none.
        return total(found, 'labloop_consent_changes_total', { change: 'revoked' }) >= 1 &&
          total(found, 'labloop_time_to_notify_seconds_count', { channel: 'portal' }) >= 1 &&
          total(found, 'labloop_unsigned_backlog') >= 1
          ? found
          : undefined;
      },
      40_000,
      'the consent change, the portal publication and the backlog in the metrics',
    );
    const text = (await scrape(api, stack.secrets.metricsToken)).text;
    for (const series of [
      'labloop_time_to_notify_seconds',
      'labloop_sign_off_latency_seconds',
      'labloop_sla_breaches_total',
      'labloop_escalations_total',
      'labloop_critical_page_to_call_seconds',
      'labloop_deliveries_total',
      'labloop_delivery_reports_total',
      'labloop_fallbacks_total',
      'labloop_ambiguous_sends_total',
      'labloop_ingest_ack_seconds',
      'labloop_ingest_refusals_total',
      'labloop_consent_changes_total',
      'labloop_unsigned_backlog',
    ])
      assert.match(text, new RegExp(`^# TYPE ${series} `, 'm'), `${series} is exposed`);

    const practice = '195900';
    const sms = { practice, acuity: 'normal', channel: 'sms' };
    assert.equal(total(all, 'labloop_time_to_notify_seconds_count', sms), 1, 'one text delivered');
    const smsSeconds = total(all, 'labloop_time_to_notify_seconds_sum', sms);
    assert.ok(smsSeconds > 0 && smsSeconds < 600, `time to notify by SMS is the run's seconds: ${smsSeconds}`);
    assert.equal(total(all, 'labloop_time_to_notify_seconds_count', { channel: 'portal', acuity: 'normal' }), 1);
    assert.ok(total(all, 'labloop_sign_off_latency_seconds_count', { practice, acuity: 'normal' }) >= 1);
    const signSeconds = total(all, 'labloop_sign_off_latency_seconds_sum', { acuity: 'normal' });
    assert.ok(signSeconds >= 0 && signSeconds < 600, `sign-off latency: ${signSeconds}`);
    assert.ok(total(all, 'labloop_deliveries_total', { channel: 'sms', outcome: 'sent' }) >= 1);
    assert.ok(total(all, 'labloop_deliveries_total', { channel: 'portal', outcome: 'published' }) >= 1);
    assert.ok(total(all, 'labloop_delivery_reports_total', { channel: 'sms', outcome: 'delivered' }) >= 1);
    assert.ok(total(all, 'labloop_ingest_ack_seconds_count', { source: 'hl7-https', outcome: 'accepted' }) >= 1);
    assert.ok(total(all, 'labloop_ingest_ack_seconds_count', { source: 'hl7-mllp', outcome: 'accepted' }) >= 1);
    assert.ok(total(all, 'labloop_ingest_ack_seconds_count', { source: 'athena-webhook' }) >= 1);
    assert.equal(total(all, 'labloop_ingest_refusals_total', { source: 'hl7-https', reason: 'invalid-message' }), 1);
    assert.equal(total(all, 'labloop_consent_changes_total', { practice, change: 'revoked', source: 'keyword' }), 1);
    assert.ok(
      total(all, 'labloop_unsigned_backlog', { practice, acuity: 'abnormal', age: 'lt-1h' }) >= 1,
      `the unsigned abnormal result is in the backlog: ${JSON.stringify(all.filter((s) => s.name === 'labloop_unsigned_backlog'))}`,
    );
    assert.equal(total(all, 'labloop_unsigned_backlog_stale'), 0);
    assert.equal(
      total(all, 'labloop_metric_label_rejections_total'),
      0,
      `no label value had to be replaced: ${all
        .filter((s) => s.name === 'labloop_metric_label_rejections_total')
        .map((s) => JSON.stringify(s.labels))
        .join(' ')}`,
    );
  });

  it("the worker's /metrics carries labloop's series and the Temporal SDK's runtime metrics", async () => {
    const { status, text } = await scrape(worker, stack.secrets.metricsToken);
    assert.equal(status, 200);
    const all = samples(text);
    assert.equal(total(all, 'labloop_temporal_runtime_metrics_up'), 1, 'the SDK exporter answered');
    assert.ok(
      all.some((s) => s.name.startsWith('temporal_') && s.labels.task_queue === stack.taskQueue),
      "the SDK's series of this stack's task queue",
    );
    assert.match(text, /^# TYPE labloop_deliveries_total counter/m);
    const health = await fetch(`${worker}/readyz`);
    assert.equal(health.status, 200, await health.text());
  });

  it('carries no PHI: no patient name, phone number, test name or value', async () => {
    const texts = [
      (await scrape(api, stack.secrets.metricsToken)).text,
      (await scrape(worker, stack.secrets.metricsToken)).text,
    ];
    const lines = texts.flatMap((t) => t.split('\n'));
    const leaks = scanForPhi(lines, fixturePhi());
    assert.deepEqual(leaks, [], describeLeaks(leaks));
    // Names and test names as plain substrings too (numbers only as tokens, above: a byte count may contain digits).
    for (const who of [texted, portal, waiting, stopper]) {
      for (const phi of [...phiOf(who, 'normal'), ...phiOf(who, 'abnormal'), who.firstName].filter((p) =>
        /[A-Za-z]{3}/.test(p),
      ))
        for (const text of texts)
          assert.ok(!text.toLowerCase().includes(phi.toLowerCase()), `the scrape mentions ${phi}`);
    }
  });

  it("passes promtool's exposition-format check, both processes", async () => {
    for (const [name, url] of [
      ['api', api],
      ['worker', worker],
    ] as const) {
      const { text } = await scrape(url, stack.secrets.metricsToken);
      const verdict = promtoolCheck(text);
      assert.ok(verdict.ok, `promtool check metrics on the ${name}'s scrape:\n${verdict.output}`);
    }
    // The check can fail: a counter without _total and a malformed line are refused.
    assert.equal(promtoolCheck('# HELP x_count a\n# TYPE x_count counter\nx_count 1\n').ok, false);
    assert.equal(promtoolCheck('not a metric line\n').ok, false);
  });
});
