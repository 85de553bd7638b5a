import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Acuity, LabResult, Observation } from '../../domain/lab-result';
import { consentChangedSignal, deliveryStatusSignal, type DeliveryStatusEvent } from '../../workflows/definitions';
import { retryable } from './support/fake-world';
import { normalResult, testPolicy } from './support/fixtures';
import { workflowHarnessForSuite, type LabHandle, type Scenario } from './support/harness';
import { Oracle } from './support/simulator';

/**
 * Random interleavings against the real workflow on the time-skipping server (the pure core gets
 * thousands in decide-properties.test.ts; this proves the shell keeps the same promises): sign-offs
 * (current, and for a version a correction superseded), source sign-offs (fresh, left over from an
 * earlier version, undated), corrections, re-deliveries, versions naming another patient, cancels
 * and what follows them (a corrected version reinstates the result: in the same run, or in a new run
 * when the cancelled one had already closed), delivery reports (delivered, undelivered transient or
 * permanent, failed), outages of Twilio, Spruce and the athena portal, duplicate messages, consent
 * changes and time passing. Every version goes in as the API hands it over: signal-with-start.
 *
 * Invariants, from every attempt the fake channels saw (first attempts and retries, failed or not,
 * not only the sends that succeeded): no patient-facing attempt before the sign-off of its version's
 * gate, none for a critical version, none for a version the workflow must not have taken in; a
 * sign-off for superseded values is refused; and from what was sent: at most one result text per
 * version (consent invitations counted apart), at most one consent invitation per patient.
 *
 * LABLOOP_INTERLEAVING_RUNS sets the number of runs (default 40, about a minute and a half on a 2-core machine).
 */

const MINUTE = 60_000;
const RUNS = Number(process.env.LABLOOP_INTERLEAVING_RUNS ?? 40);

type Outaged = 'sms' | 'spruce' | 'portal';
type Report = 'delivered' | 'undelivered-transient' | 'undelivered-permanent' | 'failed-permanent';

type Step =
  | { type: 'sign'; provider: 'prov-1' | 'prov-2' | 'staff-1' }
  | { type: 'signStale' }
  | { type: 'sourceSign'; stale: 'fresh' | 'dated-before' | 'undated' }
  | { type: 'correct'; acuity: Acuity; value: string }
  | { type: 'redeliver' }
  | { type: 'duplicate' }
  | { type: 'otherPatient' }
  | { type: 'cancel' }
  | { type: 'report'; which: number; report: Report }
  | { type: 'outage'; channel: Outaged; minutes: number }
  | { type: 'advance'; minutes: number }
  | { type: 'consent'; value: boolean };

const acuityArb = fc.constantFrom<Acuity>('normal', 'abnormal', 'critical');
// Glucose 100.0–399.9 mg/dL: distinct values whose acuity the flag decides (below the default
// critical limit of 484 mg/dL, docs/critical-values.md; no reference range is sent).
const valueArb = fc.integer({ min: 1000, max: 3999 }).map((n) => `${Math.floor(n / 10)}.${n % 10}`);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant('sign' as const),
      provider: fc.constantFrom('prov-1' as const, 'prov-2' as const, 'staff-1' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('signStale' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('sourceSign' as const),
      stale: fc.constantFrom('fresh' as const, 'dated-before' as const, 'undated' as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('correct' as const), acuity: acuityArb, value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('redeliver' as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('duplicate' as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('otherPatient' as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('cancel' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('report' as const),
      which: fc.nat(5),
      report: fc.constantFrom<Report>(
        'delivered',
        'undelivered-transient',
        'undelivered-transient',
        'undelivered-permanent',
        'failed-permanent',
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('outage' as const),
      channel: fc.constantFrom<Outaged>('sms', 'spruce', 'portal'),
      minutes: fc.integer({ min: 1, max: 40 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ type: fc.constant('advance' as const), minutes: fc.integer({ min: 1, max: 16 * 60 }) }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('consent' as const), value: fc.boolean() }) },
);

function observationsFor(acuity: Acuity, value: string): Observation[] {
  const flag = acuity === 'critical' ? 'HH' : acuity === 'abnormal' ? 'H' : 'N';
  return [{ code: '2345-7', name: 'Glucose', value, units: 'mg/dL', flag }];
}

/** What the test itself knows about each version it sent: its gate and acuity. */
interface VersionFact {
  epoch: number;
  acuity: Acuity;
}

function reportEvent(report: Report, channel: 'sms' | 'spruce', providerMessageId: string, at: string) {
  const event: DeliveryStatusEvent =
    report === 'delivered'
      ? { channel, providerMessageId, status: 'delivered', at }
      : report === 'undelivered-transient'
        ? { channel, providerMessageId, status: 'undelivered', errorCode: '30003', errorClass: 'transient', at }
        : report === 'undelivered-permanent'
          ? { channel, providerMessageId, status: 'undelivered', errorCode: '30007', errorClass: 'permanent', at }
          : {
              channel,
              providerMessageId,
              status: 'failed',
              errorCode: '30005',
              errorClass: 'permanent',
              errorType: 'SmsInvalidNumberError',
              at,
            };
  return event;
}

async function play(s: Scenario, first: LabResult, steps: Step[]) {
  // Repeats of an unsigned escalation (and of an open critical call) every 8 business hours, not
  // every hour: the repeats themselves are tested in escalation-repeats and gate-sla, and hourly
  // ones would page through each run's two-day settle below, a dozen more rounds of time-skipping
  // per run. The invariants here concern patients, whom repeats never reach.
  const policy = testPolicy({ escalationRepeatMinutes: 8 * 60, criticalCallRepeatMinutes: 8 * 60 });
  const oracle = new Oracle(policy);
  const versions = new Map<number, VersionFact>();
  /** The version that opened each gate (by the oracle's epoch). */
  const openedBy = new Map<number, number>();
  const signedAt = new Map<number, number>();
  const problems: string[] = [];
  let version = 0;
  const outageUntil: Record<Outaged, number> = { sms: 0, spruce: 0, portal: 0 };
  s.world.faults.sendGenericSms = ({ at }) => {
    if (at < outageUntil.sms) throw retryable('twilio down');
  };
  s.world.faults.sendSpruceResult = ({ at }) => {
    if (at < outageUntil.spruce) throw retryable('spruce down');
  };
  s.world.faults.postPortalNote = ({ at }) => {
    if (at < outageUntil.portal) throw retryable('athena down');
  };
  const take = async (result: LabResult) => {
    const epoch = oracle.epoch;
    const wasSigned = oracle.signed;
    if (oracle.receive(result)) {
      version += 1;
      versions.set(version, { epoch: oracle.epoch, acuity: oracle.acuity });
      if (oracle.epoch !== epoch) openedBy.set(oracle.epoch, version);
      // A source sign-off the rules accept signs the gate when the version is taken in.
      if (oracle.signed && (!wasSigned || oracle.epoch !== epoch) && !signedAt.has(oracle.epoch))
        signedAt.set(oracle.epoch, await s.nowMs());
    }
  };
  await take(first);
  const handle: LabHandle = await s.start({ result: first });
  const workflowId = handle.workflowId;
  let last = first;
  let n = 0;
  const next = (changes: Partial<LabResult>): LabResult => ({
    ...last,
    messageId: `${first.messageId}-${(n += 1)}`,
    ...changes,
  });
  const deliver = async (result: LabResult) => {
    await take(result);
    await s.deliver(workflowId, result);
  };
  for (const step of steps) {
    switch (step.type) {
      case 'sign':
        try {
          const result = await s.signOff(handle, step.provider);
          if (!signedAt.has(oracle.epoch)) signedAt.set(oracle.epoch, Date.parse(result.signedAt));
        } catch {
          // Refused (not a provider, cancelled, closed): the gate stays as it was.
        }
        break;
      case 'signStale': {
        // The page showed a version whose values a correction has since replaced.
        const opened = openedBy.get(oracle.epoch) ?? 1;
        const stale = [...versions.entries()].filter(([v, f]) => v < opened && f.epoch < oracle.epoch).at(-1);
        if (stale === undefined) break;
        try {
          await s.signOff(handle, 'prov-1', undefined, stale[0]);
          problems.push(`a sign-off for version ${stale[0]} was accepted after version ${opened} replaced it`);
        } catch {
          // Refused, as it must be.
        }
        break;
      }
      case 'sourceSign': {
        const now = await s.nowMs();
        const signedOff =
          step.stale === 'fresh'
            ? { providerId: 'prov-2', at: new Date(now).toISOString() }
            : step.stale === 'dated-before'
              ? { providerId: 'prov-2', at: new Date(now - 7 * 24 * 60 * MINUTE).toISOString() }
              : { providerId: 'prov-2' };
        last = next({ signedOff });
        await deliver(last);
        break;
      }
      case 'correct':
        last = next({
          status: 'corrected',
          observations: observationsFor(step.acuity, step.value),
          reportedAt: await s.nowIso(),
        });
        delete last.signedOff;
        await deliver(last);
        break;
      case 'redeliver':
        last = next({});
        await deliver(last);
        break;
      case 'duplicate':
        // A retransmission reaches the run that has it (the API's ingest log answers any later one).
        try {
          await s.receive(handle, last);
        } catch {
          // That run has closed.
        }
        break;
      case 'otherPatient':
        // Never merged: not a version of this result (the oracle refuses it like the workflow must).
        await deliver(
          next({
            status: 'corrected',
            patient: { ...last.patient, id: 'MRN-909', firstName: 'Morgan' },
            observations: observationsFor('normal', '88.8'),
          }),
        );
        break;
      case 'cancel':
        await deliver(next({ status: 'cancelled' }));
        break;
      case 'report': {
        const sent = (await s.status(handle)).deliveries.filter(
          (d): d is typeof d & { channel: 'sms' | 'spruce'; providerMessageId: string } =>
            (d.channel === 'sms' || d.channel === 'spruce') && d.providerMessageId !== undefined,
        );
        const target = sent[step.which % Math.max(1, sent.length)];
        if (target === undefined) break;
        try {
          await handle.signal(
            deliveryStatusSignal,
            reportEvent(step.report, target.channel, target.providerMessageId, await s.nowIso()),
          );
        } catch {
          // The run has closed meanwhile: a report for it changes nothing.
        }
        break;
      }
      case 'outage':
        outageUntil[step.channel] = (await s.nowMs()) + step.minutes * MINUTE;
        break;
      case 'advance':
        await s.advance(step.minutes * MINUTE);
        break;
      case 'consent':
        s.world.smsConsent = step.value;
        try {
          await handle.signal(consentChangedSignal, { smsConsent: step.value, source: 'staff', at: await s.nowIso() });
        } catch {
          // Closed (after a cancel): the consent store holds the change for later runs.
        }
        break;
    }
  }
  await s.advance(2 * 24 * 60 * MINUTE);
  await s.quiesce(200);
  return { versions, signedAt, problems };
}

describe('random interleavings against the real workflow (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it(`${RUNS} random runs keep the safety promises`, async () => {
    await fc.assert(
      fc.asyncProperty(
        acuityArb,
        valueArb,
        fc.boolean(),
        fc.boolean(),
        fc.array(stepArb, { minLength: 2, maxLength: 10 }),
        async (acuity, value, smsConsent, spruceSecure, steps) => {
          const first = normalResult({ observations: observationsFor(acuity, value) });
          const world = await h.scenario({ smsConsent, spruceSecure }, async (s) => {
            try {
              const { versions, signedAt, problems } = await play(s, first, steps);
              assert.deepEqual(problems, []);
              // Every attempt, including the first of each send and the ones that failed: an attempt
              // is a request to the provider, and a retried one can land.
              const attempts = s.world.patientSendAttempts();
              assert.ok(
                attempts.length >= s.world.sms().length + s.world.spruce().length + s.world.portal().length,
                'every send is among the attempts',
              );
              for (const attempt of attempts) {
                const what = `${attempt.name} attempt ${attempt.attempt} for version ${attempt.input.resultVersion}`;
                const fact = versions.get(attempt.input.resultVersion);
                assert.ok(fact !== undefined, `${what}: a version that was never taken in`);
                assert.equal(attempt.input.patientId ?? first.patient.id, first.patient.id, `${what}: another patient`);
                const signed = signedAt.get(fact.epoch);
                assert.ok(signed !== undefined, `${what}, whose gate was never signed`);
                assert.ok(attempt.at >= signed, `${what} before the sign-off of its gate`);
                assert.notEqual(fact.acuity, 'critical', `${what}: automated, for a critical result`);
              }
              // Result texts and consent invitations are counted apart.
              const texts = new Map<number, number>();
              const invitations = new Map<string, number>();
              for (const sms of s.world.sms()) {
                if (sms.input.template === 'consent-invitation') {
                  invitations.set(sms.input.patientId, (invitations.get(sms.input.patientId) ?? 0) + 1);
                  continue;
                }
                texts.set(sms.input.resultVersion, (texts.get(sms.input.resultVersion) ?? 0) + 1);
              }
              for (const [v, count] of texts) assert.ok(count <= 1, `${count} result texts for version ${v}`);
              for (const [p, count] of invitations) assert.ok(count <= 1, `${count} consent invitations to ${p}`);
            } catch (err) {
              console.error(`interleaving failed: ${err instanceof Error ? err.message : String(err)}`);
              throw err;
            }
          });
          return world.calls.length > 0;
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
  });
});
