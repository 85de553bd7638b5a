import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allowPracticeLabels, guardLabel, OTHER, PRACTICES, VOCABULARIES } from '../../lib/metrics/labels';
import { registry } from '../../lib/metrics/registry';
import { createScrapeTokenCheck, isInternalBindAddress } from '../../lib/metrics/scrape-access';
import { deliveries, timeToNotify } from '../../lib/metrics/series';

/**
 * The PHI guard of metric labels (lib/metrics/labels.ts): a label carries a value of its closed
 * vocabulary or a registered practice ID, and anything else becomes `other`, counted by metric and
 * label without the value. And who may scrape (lib/metrics/scrape-access.ts).
 */

async function rejections(metric: string, label: string): Promise<number> {
  const counter = registry.getSingleMetric('labloop_metric_label_rejections_total');
  const values = (await counter?.get())?.values ?? [];
  return values.find((v) => v.labels.metric === metric && v.labels.label === label)?.value ?? 0;
}

describe('metric label guard', () => {
  it('keeps a vocabulary value and replaces anything else with "other"', () => {
    assert.equal(guardLabel('m', 'channel', VOCABULARIES.channel, 'sms'), 'sms');
    assert.equal(guardLabel('m', 'acuity', VOCABULARIES.acuity, 'critical'), 'critical');
    for (const phi of ['Dana Whitcombe', '+16175550174', '6175550174', 'Potassium', '6.9', 'MRN-500', '1980-04-02', ''])
      assert.equal(guardLabel('m', 'channel', VOCABULARIES.channel, phi), OTHER, phi);
    fc.assert(
      fc.property(fc.string(), (value) => {
        const guarded = guardLabel('m', 'reason', VOCABULARIES.fallbackReason, value);
        return VOCABULARIES.fallbackReason.includes(value) ? guarded === value : guarded === OTHER;
      }),
    );
  });

  it('takes practice IDs from the registry only', () => {
    assert.equal(guardLabel('m', 'practice', PRACTICES, 'guard-test-practice'), OTHER);
    allowPracticeLabels(['guard-test-practice']);
    assert.equal(guardLabel('m', 'practice', PRACTICES, 'guard-test-practice'), 'guard-test-practice');
    assert.equal(guardLabel('m', 'practice', PRACTICES, 'Whitcombe'), OTHER);
  });

  it('counts a rejection by metric and label, and the value appears nowhere in the exposition', async () => {
    const before = await rejections(timeToNotify.name, 'acuity');
    timeToNotify.observe({ practice: 'guard-test-practice', acuity: 'Whitcombe 6175550174', channel: 'sms' }, 12);
    deliveries.inc({ practice: 'Dana Whitcombe', channel: 'sms', outcome: 'Potassium 6.9 mmol/L' });
    assert.equal(await rejections(timeToNotify.name, 'acuity'), before + 1);
    assert.ok((await rejections(deliveries.name, 'outcome')) >= 1);
    const text = await registry.metrics();
    for (const phi of ['Whitcombe', '6175550174', 'Dana', 'Potassium', 'mmol'])
      assert.ok(!text.includes(phi), `the exposition carries ${phi}`);
    assert.match(
      text,
      /labloop_time_to_notify_seconds_count\{practice="guard-test-practice",acuity="other",channel="sms"\} 1/,
    );
  });

  it('drops impossible durations instead of recording them', async () => {
    const count = async () =>
      ((await registry.getSingleMetric(timeToNotify.name)?.get())?.values ?? [])
        .filter((v) => (v as { metricName?: string }).metricName === 'labloop_time_to_notify_seconds_count')
        .reduce((sum, v) => sum + v.value, 0);
    const before = await count();
    timeToNotify.observe({ practice: 'guard-test-practice', acuity: 'normal', channel: 'portal' }, -5);
    timeToNotify.observe({ practice: 'guard-test-practice', acuity: 'normal', channel: 'portal' }, Number.NaN);
    assert.equal(await count(), before);
  });
});

describe('scrape access', () => {
  it('knows internal interfaces from every-interface binds and host names', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      'localhost',
      '10.0.0.5',
      '172.16.0.1',
      '172.31.255.1',
      '192.168.1.9',
      'fd12:3456::1',
    ])
      assert.equal(isInternalBindAddress(host), true, host);
    for (const host of ['0.0.0.0', '::', '172.32.0.1', '8.8.8.8', '2001:db8::1', 'metrics.example.org', ''])
      assert.equal(isInternalBindAddress(host), false, host);
  });

  it('accepts a configured bearer token and nothing else', () => {
    const check = createScrapeTokenCheck(new Map([['s3cret-token-value', 'prometheus']]));
    assert.equal(check('Bearer s3cret-token-value'), 'prometheus');
    assert.equal(check('bearer s3cret-token-value'), 'prometheus');
    assert.equal(check('Bearer s3cret-token-valuX'), undefined);
    assert.equal(check('s3cret-token-value'), undefined);
    assert.equal(check(undefined), undefined);
    assert.equal(createScrapeTokenCheck(new Map())('Bearer anything'), undefined);
  });
});
