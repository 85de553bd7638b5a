import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Acuity, LabResult, Observation } from '../../domain/lab-result';
import { consentChangedSignal } from '../../workflows/definitions';
import { retryable } from './support/fake-world';
import { normalResult, testPolicy } from './support/fixtures';
import { workflowHarnessForSuite, type LabHandle, type Scenario } from './support/harness';
import { Oracle } from './support/simulator';

/**
 * Random interleavings against the real workflow on the time-skipping server (the pure core gets
 * thousands in decide-properties.test.ts; this proves the shell keeps the same promises): sign-offs,
 * corrections, cancels, outages of Twilio, Spruce and the athena portal, duplicate messages,
 * consent changes and time passing. Invariants, from every attempt the fake channels saw (first
 * attempts and retries, failed or not, not only the sends that succeeded): no patient-facing
 * attempt before the version's gate was signed, none for a critical version; and from what was
 * sent: never two result texts for one version, at most one consent invitation.
 */

const MINUTE = 60_000;
const RUNS = Number(process.env.LABLOOP_INTERLEAVING_RUNS ?? 32);

type Outaged = 'sms' | 'spruce' | 'portal';

type Step =
  | { type: 'sign'; provider: 'prov-1' | 'prov-2' | 'staff-1' }
  | { type: 'correct'; acuity: Acuity; value: string }
  | { type: 'redeliver' }
  | { type: 'duplicate' }
  | { type: 'cancel' }
  | { type: 'outage'; channel: Outaged; minutes: number }
  | { type: 'advance'; minutes: number }
  | { type: 'consent'; value: boolean };

const acuityArb = fc.constantFrom<Acuity>('normal', 'abnormal', 'critical');
const valueArb = fc.integer({ min: 1000, max: 9999 }).map((n) => `${Math.floor(n / 10)}.${n % 10}`);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant('sign' as const),
      provider: fc.constantFrom('prov-1' as const, 'prov-2' as const, 'staff-1' as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('correct' as const), acuity: acuityArb, value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('redeliver' as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('duplicate' as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('cancel' as const) }) },
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

async function play(s: Scenario, first: LabResult, steps: Step[]) {
  const policy = testPolicy();
  const oracle = new Oracle(policy);
  const versions = new Map<number, VersionFact>();
  const signedAt = new Map<number, number>();
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
  const take = (result: LabResult) => {
    if (oracle.receive(result)) {
      version += 1;
      versions.set(version, { epoch: oracle.epoch, acuity: oracle.acuity });
    }
  };
  take(first);
  const handle: LabHandle = await s.start({ result: first });
  let last = first;
  let n = 0;
  const next = (changes: Partial<LabResult>): LabResult => ({
    ...last,
    messageId: `${first.messageId}-${(n += 1)}`,
    ...changes,
  });
  let cancelled = false;
  for (const step of steps) {
    // After a cancel the workflow closes as soon as it is idle; whether a later message lands before
    // or after that is a race (the new-run path has its own tests in corrections.test.ts).
    if (cancelled && step.type !== 'advance' && step.type !== 'outage') continue;
    switch (step.type) {
      case 'sign':
        try {
          const result = await s.signOff(handle, step.provider);
          if (!signedAt.has(oracle.epoch)) signedAt.set(oracle.epoch, Date.parse(result.signedAt));
        } catch {
          // Refused (not a provider, cancelled, closed): the gate stays as it was.
        }
        break;
      case 'correct':
        last = next({
          status: 'corrected',
          observations: observationsFor(step.acuity, step.value),
          reportedAt: await s.nowIso(),
        });
        take(last);
        await s.receive(handle, last);
        break;
      case 'redeliver':
        last = next({});
        take(last);
        await s.receive(handle, last);
        break;
      case 'duplicate':
        take(last);
        await s.receive(handle, last);
        break;
      case 'cancel': {
        const cancel = next({ status: 'cancelled' });
        take(cancel);
        await s.receive(handle, cancel);
        cancelled = true;
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
        await handle.signal(consentChangedSignal, { smsConsent: step.value, source: 'staff', at: await s.nowIso() });
        break;
    }
  }
  await s.advance(2 * 24 * 60 * MINUTE);
  await s.quiesce(200);
  return { versions, signedAt };
}

describe('random interleavings against the real workflow (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it(`${RUNS} random runs keep the three safety promises`, async () => {
    await fc.assert(
      fc.asyncProperty(
        acuityArb,
        valueArb,
        fc.boolean(),
        fc.boolean(),
        fc.array(stepArb, { minLength: 2, maxLength: 9 }),
        async (acuity, value, smsConsent, spruceSecure, steps) => {
          const first = normalResult({ observations: observationsFor(acuity, value) });
          const world = await h.scenario({ smsConsent, spruceSecure }, async (s) => {
            try {
              const { versions, signedAt } = await play(s, first, steps);
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
                assert.ok(fact !== undefined, `${what}: an unknown version`);
                const signed = signedAt.get(fact.epoch);
                assert.ok(signed !== undefined, `${what}, whose gate was never signed`);
                assert.ok(attempt.at >= signed, `${what} before the sign-off of its gate`);
                assert.notEqual(fact.acuity, 'critical', `${what}: automated, for a critical result`);
              }
              const texts = new Map<number, number>();
              for (const sms of s.world.sms()) {
                if (sms.input.template === 'consent-invitation') continue;
                texts.set(sms.input.resultVersion, (texts.get(sms.input.resultVersion) ?? 0) + 1);
              }
              for (const [v, count] of texts) assert.ok(count <= 1, `${count} result texts for version ${v}`);
              const invitations = s.world.sms().filter((m) => m.input.template === 'consent-invitation');
              assert.ok(invitations.length <= 1, `${invitations.length} consent invitations`);
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
