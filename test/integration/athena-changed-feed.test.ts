import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { AthenaError, formatAthenaEasternDateTime, type AthenaClient } from '../../lib/clients/athena';
import type { AthenaFake } from '../../sandbox/fakes/athena';
import {
  ATHENA_TEST_CLIENT_ID,
  ATHENA_TEST_CLIENT_SECRET,
  athenaClientOfFake,
  startAthenaTestFake,
} from '../support/athena';

/**
 * The lab-result changed-data feed: subscription, destructive reads, `leaveunprocessed`, and refetching
 * processed records by a `showprocessed*` window given in Eastern wall-clock time.
 */

const MINUTE = 60_000;

void describe('athena Eastern date-time formatting', () => {
  void it('formats EST and EDT instants, including both DST transitions', () => {
    const cases: [string, string][] = [
      ['2024-01-15T17:00:00Z', '01/15/2024 12:00:00'], // EST, UTC-5
      ['2024-07-04T16:00:00Z', '07/04/2024 12:00:00'], // EDT, UTC-4
      ['2024-03-10T06:59:59Z', '03/10/2024 01:59:59'], // last EST second before spring-forward
      ['2024-03-10T07:00:00Z', '03/10/2024 03:00:00'], // 02:00 EST does not exist: 03:00 EDT
      ['2024-11-03T05:30:00Z', '11/03/2024 01:30:00'], // first 01:30 (EDT)
      ['2024-11-03T06:30:00Z', '11/03/2024 01:30:00'], // second 01:30 (EST): athena's format repeats it
      ['2024-12-31T23:59:59Z', '12/31/2024 18:59:59'],
      ['2025-01-01T04:59:59Z', '12/31/2024 23:59:59'], // still New Year's Eve in New York
    ];
    for (const [iso, expected] of cases) assert.equal(formatAthenaEasternDateTime(new Date(iso)), expected, iso);
  });

  void it('agrees with an independent Intl formatter for any instant', () => {
    const oracle = new Intl.DateTimeFormat('en-US', {
      timeZone: 'America/New_York',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    const viaIntl = (date: Date) => {
      const parts = Object.fromEntries(oracle.formatToParts(date).map((p) => [p.type, p.value]));
      return `${parts.month}/${parts.day}/${parts.year} ${parts.hour}:${parts.minute}:${parts.second}`;
    };
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2040-12-31T23:59:59Z'), noInvalidDate: true }),
        (date) => {
          assert.equal(formatAthenaEasternDateTime(date), viaIntl(date));
        },
      ),
      { numRuns: 500 },
    );
  });
});

void describe('athena lab-result changed feed', () => {
  let fake: AthenaFake;
  let athena: AthenaClient;
  let practiceId: string;
  let patientId: string;
  let nextPractice = 300;

  const addResult = () =>
    fake.control.addLabResult({
      practiceId,
      patientId,
      resultstatus: 'Final',
      description: 'Basic metabolic panel',
      analytes: [{ analytename: 'Sodium', value: '140', units: 'mmol/L', referencerange: '135-145' }],
    }).labResultId;

  const changedIds = async (args: Omit<Parameters<AthenaClient['listChangedLabResults']>[0], 'practiceId'> = {}) =>
    (await athena.listChangedLabResults({ practiceId, ...args })).labResults.map((r) => r.labresultid).sort();

  before(async () => {
    fake = await startAthenaTestFake();
    athena = athenaClientOfFake(fake, {
      // The fake's clock is moved to fixed dates below; token expiry follows the same clock.
      now: () => fake.control.now().getTime(),
    });
  });
  after(() => fake.close());

  // A fresh practice per test keeps feeds independent.
  beforeEach(async () => {
    fake.control.clearFailures();
    practiceId = String(nextPractice++);
    patientId = fake.control.addPatient({
      practiceId,
      firstName: 'Feed',
      lastName: 'Patient',
      dob: '1975-09-09',
    }).patientId;
    await athena.subscribeLabResultChanges({ practiceId });
  });

  void it('subscribes, reports the subscription, and unsubscribes', async () => {
    assert.deepEqual(await athena.getLabResultSubscription({ practiceId }), {
      status: 'ACTIVE',
      eventNames: ['AddLabResult', 'UpdateLabResult', 'CloseLabResult'],
    });
    await athena.unsubscribeLabResultChanges({ practiceId });
    assert.equal((await athena.getLabResultSubscription({ practiceId })).status, 'INACTIVE');
    await assert.rejects(athena.listChangedLabResults({ practiceId }), (error: unknown) => {
      assert.ok(error instanceof AthenaError);
      assert.equal(error.kind, 'auth', 'polling without a subscription is refused');
      return true;
    });
  });

  void it('is a destructive read: a second GET returns nothing', async () => {
    const ids = [addResult(), addResult()].sort();
    const first = await athena.listChangedLabResults({ practiceId });
    assert.deepEqual(first.labResults.map((r) => r.labresultid).sort(), ids);
    assert.equal(first.totalCount, 2);
    // List form: the review flag arrives as "0"/"1" and is normalised.
    assert.equal(first.labResults[0]?.isreviewedbyprovider, false);
    assert.deepEqual(await changedIds(), []);
  });

  void it('leaveUnprocessed keeps the records for the next read', async () => {
    const id = addResult();
    assert.deepEqual(await changedIds({ leaveUnprocessed: true }), [id]);
    assert.deepEqual(await changedIds({ leaveUnprocessed: true }), [id]);
    assert.deepEqual(await changedIds(), [id]);
    assert.deepEqual(await changedIds(), []);
  });

  void it('a later change re-opens a processed record', async () => {
    const id = addResult();
    await changedIds();
    fake.control.signOff(id, '71');
    const again = await athena.listChangedLabResults({ practiceId });
    assert.deepEqual(
      again.labResults.map((r) => [r.labresultid, r.isreviewedbyprovider]),
      [[id, true]],
    );
  });

  void it('refetches processed records inside a showprocessed window (Eastern time, summer)', async () => {
    fake.control.setTime(new Date('2024-07-01T15:00:00Z'));
    const id = addResult();
    assert.deepEqual(await changedIds(), [id]);
    fake.control.advanceTime(10 * MINUTE);
    assert.deepEqual(await changedIds(), [], 'already processed');
    const processedAt = new Date('2024-07-01T15:00:00Z').getTime();
    const refetched = await changedIds({
      showProcessedStart: new Date(processedAt - 5 * MINUTE),
      showProcessedEnd: new Date(processedAt + 5 * MINUTE),
    });
    assert.deepEqual(refetched, [id]);
    const outside = await changedIds({
      showProcessedStart: new Date(processedAt + 1 * MINUTE),
      showProcessedEnd: new Date(processedAt + 9 * MINUTE),
    });
    assert.deepEqual(outside, []);
  });

  void it('a window across the spring-forward transition finds what was processed in it', async () => {
    // 07:10Z on 2024-03-10 is 03:10 EDT, ten minutes after clocks jumped from 02:00 EST.
    fake.control.setTime(new Date('2024-03-10T07:10:00Z'));
    const id = addResult();
    assert.deepEqual(await changedIds(), [id]);
    // Window 01:50 EST .. 03:20 EDT. Formatted in UTC ("06:50".."07:20") it would miss the record.
    const refetched = await changedIds({
      showProcessedStart: new Date('2024-03-10T06:50:00Z'),
      showProcessedEnd: new Date('2024-03-10T07:20:00Z'),
    });
    assert.deepEqual(refetched, [id]);
  });

  void it('a lost response is ambiguous (not retried blind) and the window recovers the batch', async () => {
    fake.control.setTime(new Date('2024-12-02T14:00:00Z'));
    const ids = [addResult(), addResult()].sort();
    const callStartedAt = fake.control.now();
    fake.control.failNext(1, { status: 500, when: 'after', pathIncludes: '/labresults/changed' });
    await assert.rejects(athena.listChangedLabResults({ practiceId }), (error: unknown) => {
      assert.ok(error instanceof AthenaError);
      assert.equal(error.kind, 'ambiguous');
      assert.equal(error.attempts, 1);
      return true;
    });
    assert.deepEqual(await changedIds(), [], 'the failed read consumed the batch');
    const recovered = await changedIds({
      showProcessedStart: new Date(callStartedAt.getTime() - MINUTE),
      showProcessedEnd: new Date(fake.control.now().getTime() + MINUTE),
    });
    assert.deepEqual(recovered, ids);
  });

  void it('a non-destructive read is retried after a 5xx', async () => {
    const id = addResult();
    fake.control.failNext(2, { status: 503, pathIncludes: '/labresults/changed' });
    assert.deepEqual(await changedIds({ leaveUnprocessed: true }), [id]);
  });

  void it('pages with limit and offset; only the returned page is marked processed', async () => {
    const ids = [addResult(), addResult(), addResult()];
    const firstPage = await athena.listChangedLabResults({ practiceId, limit: 2 });
    assert.equal(firstPage.labResults.length, 2);
    assert.equal(firstPage.totalCount, 3);
    const rest = await changedIds();
    assert.equal(rest.length, 1);
    assert.deepEqual([...firstPage.labResults.map((r) => r.labresultid), ...rest].sort(), ids.sort());
  });

  void it('refuses half a window before sending anything', async () => {
    await assert.rejects(
      athena.listChangedLabResults({ practiceId, showProcessedStart: new Date() }),
      /showProcessedStart and showProcessedEnd must be given together/,
    );
  });

  void it('the fake rejects a window that is not mm/dd/yyyy hh24:mi:ss', async () => {
    const token = await (
      await fetch(`${fake.url}/oauth2/v1/token`, {
        method: 'POST',
        headers: {
          Authorization: `Basic ${Buffer.from(`${ATHENA_TEST_CLIENT_ID}:${ATHENA_TEST_CLIENT_SECRET}`).toString('base64')}`,
          'Content-Type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials&scope=athena%2Fservice%2FAthenanet.MDP.*',
      })
    ).json();
    const { access_token: accessToken } = token as { access_token: string };
    const response = await fetch(
      `${fake.url}/v1/${practiceId}/labresults/changed?showprocessedstartdatetime=2024-07-01T10:00:00Z&showprocessedenddatetime=2024-07-01T11:00:00Z`,
      { headers: { Authorization: `Bearer ${accessToken}` } },
    );
    assert.equal(response.status, 400);
  });
});
