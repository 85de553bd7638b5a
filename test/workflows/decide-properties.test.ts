import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Acuity, LabResult, Observation } from '../../domain/lab-result';
import type { PriorRunSummary } from '../../domain/activity-contract';
import { contentDigest } from '../../workflows/content-digest';
import { escalationLadder } from '../../workflows/gate';
import { contentKey } from '../../workflows/intake';
import { Draft } from '../../workflows/draft';
import { phaseOf } from '../../workflows/view';
import { normalResult, testPolicy } from './support/fixtures';
import { Simulator, type Outcome } from './support/simulator';

/**
 * The decision core under random interleavings of everything that can happen to a result: sign-offs
 * (valid or not), corrections, re-deliveries, cancels, duplicate messages, outages and refusals,
 * delivery reports, consent changes, replies, call outcomes and the passing of time. Checked on
 * every command: no patient message before the current version is signed (or after a cancel, or
 * for a preliminary), never an automated patient message for a critical, never two result texts for
 * one version, never a re-send of an accepted message; audit events valid and PHI-free. Checked at
 * the end, once everything has had its chance: nothing is left stuck.
 */

const START_MIN = Date.parse('2026-01-01T00:00:00Z');
const START_MAX = Date.parse('2027-12-31T00:00:00Z');

function observationsFor(acuity: Acuity, value: string): Observation[] {
  const flag = acuity === 'critical' ? 'HH' : acuity === 'abnormal' ? 'H' : 'N';
  return [{ code: '2345-7', name: 'Glucose', value, units: 'mg/dL', flag }];
}

const acuityArb = fc.constantFrom<Acuity>('normal', 'abnormal', 'critical');
// Below the default glucose critical limit (484 mg/dL): the flag decides the acuity.
const valueArb = fc.integer({ min: 1000, max: 3999 }).map((n) => `${Math.floor(n / 10)}.${n % 10}`);

type Action =
  | { type: 'sign'; provider: string }
  | { type: 'correct'; acuity: Acuity; value: string; status: 'corrected' | 'final' }
  | { type: 'redeliver'; sourceSign: boolean; final: boolean }
  | { type: 'cancel' }
  | { type: 'duplicate' }
  | { type: 'complete'; index: number; outcome: Outcome }
  | { type: 'advance'; minutes: number }
  | { type: 'status'; which: number; status: 'sent' | 'delivered' | 'read' | 'failed' | 'undelivered'; known: boolean }
  | { type: 'consent'; value: boolean }
  | { type: 'reply'; kind: 'stop' | 'start' | 'help' }
  | { type: 'callDone'; which: number; outcome: 'reached' | 'voicemail' | 'no-answer' | 'wrong-number' };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      type: fc.constant('sign' as const),
      provider: fc.constantFrom('prov-1', 'prov-2', 'prov-1', 'staff-1', 'nobody'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('correct' as const),
      acuity: acuityArb,
      value: valueArb,
      status: fc.constantFrom('corrected' as const, 'final' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant('redeliver' as const), sourceSign: fc.boolean(), final: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('cancel' as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('duplicate' as const) }) },
  {
    weight: 20,
    arbitrary: fc.record({
      type: fc.constant('complete' as const),
      index: fc.nat(20),
      outcome: fc.constantFrom<Outcome>('ok', 'ok', 'ok', 'ok', 'outage', 'permanent', 'consent', 'no-account'),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({ type: fc.constant('advance' as const), minutes: fc.integer({ min: 1, max: 3 * 24 * 60 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant('status' as const),
      which: fc.nat(10),
      status: fc.constantFrom(
        'sent' as const,
        'delivered' as const,
        'read' as const,
        'failed' as const,
        'undelivered' as const,
      ),
      known: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('consent' as const), value: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('reply' as const),
      kind: fc.constantFrom('stop' as const, 'start' as const, 'help' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('callDone' as const),
      which: fc.nat(5),
      outcome: fc.constantFrom('reached' as const, 'voicemail' as const, 'no-answer' as const, 'wrong-number' as const),
    }),
  },
);

/** True three times out of four: most runs should reach the interesting part (a text that can go). */
const mostly = fc.constantFrom(true, true, true, false);
const rarely = fc.constantFrom(false, false, false, true);

const setupArb = fc.record({
  acuity: acuityArb,
  value: valueArb,
  preliminary: rarely,
  phone: mostly,
  portalActive: fc.boolean(),
  smsConsent: mostly,
  spruceSecure: fc.boolean(),
  priorTold: rarely,
  /** What the earlier run's closing row says about its content: nothing, the same as the first message's, or other values. */
  priorContent: fc.constantFrom('unknown' as const, 'same' as const, 'other' as const),
  sourceSigned: rarely,
  invitation: fc.boolean(),
  /** Earlier runs are looked up before anything else happens (else the lookup is just another pending command). */
  priorFirst: mostly,
  startMs: fc.integer({ min: START_MIN, max: START_MAX }),
});

let messages = 0;
function nextMessageId(): string {
  messages += 1;
  return `M${messages}`;
}

type Setup = typeof setupArb extends fc.Arbitrary<infer T> ? T : never;

/** The simulator's workflow ID (support/simulator.ts): the content digest is keyed by it. */
const SIM_WORKFLOW_ID = 'lab-result-195900-0123456789abcdef0123';

/** An earlier run that told the patient about its version 2, and what its closing row recorded. */
function priorRun(first: LabResult, content: Setup['priorContent']): PriorRunSummary {
  const told = { lastVersion: 2, patientNotifiedVersion: 2, patientId: first.patient.id };
  if (content === 'unknown') return told;
  const values = content === 'same' ? first : { ...first, observations: observationsFor('normal', '1.5') };
  return {
    ...told,
    lastContentDigest: contentDigest(SIM_WORKFLOW_ID, contentKey(values)),
    lastStatus: first.status === 'preliminary' ? 'final' : first.status,
  };
}

function run(setup: Setup, actions: Action[]): Simulator {
  const base = normalResult();
  const first: LabResult = {
    ...base,
    messageId: nextMessageId(),
    status: setup.preliminary ? 'preliminary' : 'final',
    patient: {
      ...base.patient,
      ...(setup.phone ? {} : { mobilePhone: undefined }),
      portalActive: setup.portalActive,
    },
    observations: observationsFor(setup.acuity, setup.value),
    ...(setup.sourceSigned ? { signedOff: { providerId: 'prov-1' } } : {}),
  };
  if (!setup.phone) delete first.patient.mobilePhone;
  const sim = new Simulator({
    result: first,
    policy: testPolicy({ smsConsentInvitation: setup.invitation }),
    startMs: setup.startMs,
    smsConsent: setup.smsConsent,
    spruceSecure: setup.spruceSecure,
    prior: setup.priorTold ? priorRun(first, setup.priorContent) : { lastVersion: 0 },
  });
  if (setup.priorFirst) sim.complete(0, 'ok');
  let last = first;
  for (const action of actions) {
    switch (action.type) {
      case 'sign':
        sim.signOff(action.provider);
        break;
      case 'correct':
        last = {
          ...last,
          messageId: nextMessageId(),
          status: action.status,
          observations: observationsFor(action.acuity, action.value),
          reportedAt: sim.iso(),
        };
        delete last.signedOff;
        sim.receive(last);
        break;
      case 'redeliver':
        last = {
          ...last,
          messageId: nextMessageId(),
          ...(action.final && last.status === 'preliminary' ? { status: 'final' as const } : {}),
          ...(action.sourceSign ? { signedOff: { providerId: 'prov-2', at: sim.iso() } } : {}),
        };
        sim.receive(last);
        break;
      case 'cancel':
        sim.receive({ ...last, messageId: nextMessageId(), status: 'cancelled' });
        break;
      case 'duplicate':
        sim.receive(last);
        break;
      case 'complete':
        sim.complete(action.index, action.outcome);
        break;
      case 'advance':
        sim.advance(action.minutes * 60_000);
        break;
      case 'status': {
        const ids = sim.model.deliveries.flatMap((d) =>
          d.providerMessageId !== undefined ? [{ id: d.providerMessageId, channel: d.channel }] : [],
        );
        const target =
          action.known && ids.length > 0
            ? ids[action.which % ids.length]
            : { id: `SMunknown${action.which}`, channel: 'sms' as const };
        sim.signal({
          type: 'deliveryStatus',
          at: sim.iso(),
          status: { channel: target.channel, providerMessageId: target.id, status: action.status, at: sim.iso() },
        });
        break;
      }
      case 'consent':
        sim.smsConsent = action.value;
        sim.signal({
          type: 'consentChanged',
          at: sim.iso(),
          change: { smsConsent: action.value, source: 'staff', at: sim.iso() },
        });
        break;
      case 'reply':
        if (action.kind === 'stop') sim.smsConsent = false;
        if (action.kind === 'start') sim.smsConsent = true;
        sim.signal({
          type: 'patientReply',
          at: sim.iso(),
          reply: { channel: 'sms', kind: action.kind, at: sim.iso() },
        });
        break;
      case 'callDone': {
        const tasks = sim.model.callTasks.filter((t) => t.taskId !== undefined);
        if (tasks.length === 0) break;
        const task = tasks[action.which % tasks.length];
        sim.signal({
          type: 'callCompleted',
          at: sim.iso(),
          call: { taskId: task.taskId!, staffId: 'staff-1', outcome: action.outcome, at: sim.iso() },
        });
        break;
      }
    }
  }
  return sim;
}

describe('decision core under random interleavings (fast-check)', () => {
  it('never notifies before sign-off, never texts a critical, never sends a result text twice per version', () => {
    fc.assert(
      fc.property(setupArb, fc.array(actionArb, { minLength: 3, maxLength: 40, size: 'max' }), (setup, actions) => {
        const sim = run(setup, actions);
        assert.deepEqual(sim.violations, []);
        sim.drain();
        assert.deepEqual(sim.violations, []);
        assert.ok(!sim.phiIn(JSON.stringify(sim.view())), 'PHI in the status view');
      }),
      { numRuns: Number(process.env.LABLOOP_PROPERTY_RUNS ?? 1500) },
    );
  });

  it('nothing is left stuck: once everything has had its chance, the result is closed, told, fallen back, or escalated to the top', () => {
    fc.assert(
      fc.property(setupArb, fc.array(actionArb, { minLength: 3, maxLength: 30, size: 'max' }), (setup, actions) => {
        const sim = run(setup, actions);
        sim.drain();
        const { oracle, model } = sim;
        const phase = phaseOf(model);
        if (oracle.cancelled) {
          assert.equal(model.closed, true, 'a cancelled result closes');
          return;
        }
        if (oracle.status !== 'final' && oracle.status !== 'corrected') {
          assert.equal(phase === 'awaiting-final' || phase === 'critical-call', true, `preliminary result in ${phase}`);
          return;
        }
        if (!oracle.signed) {
          const top = escalationLadder(new Draft(model, sim.ctx, sim.iso())).length;
          assert.ok(model.gate.escalationLevel >= top, 'an unsigned result climbs the whole ladder');
          // …and never stops there: the next repeat is scheduled (or being computed) while unsigned.
          assert.ok(model.gate.overdueSince !== undefined, 'an unsigned result past the ladder is overdue');
          assert.ok(
            model.gate.nextEscalationAt !== undefined || model.gate.deadlinePending,
            'the escalation repeats while unsigned',
          );
          assert.ok(phase === 'escalated' || phase === 'critical-call', `unsigned result in ${phase}`);
          return;
        }
        assert.equal(model.gate.routing, 'planned', 'a signed final result is routed');
        const acceptable = oracle.acuity === 'critical' ? ['notified', 'critical-call'] : ['notified', 'fallback'];
        assert.ok(acceptable.includes(phase), `signed ${oracle.acuity} result ended in ${phase}`);
        if (oracle.acuity === 'critical') {
          assert.ok(
            model.pages.some((p) => p.reason === 'critical-result'),
            'a critical pages the on-call provider',
          );
        }
      }),
      { numRuns: Number(process.env.LABLOOP_PROPERTY_RUNS ?? 1000) },
    );
  });
});
