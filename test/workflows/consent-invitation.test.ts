import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalResult } from './support/fixtures';
import { workflowHarnessForSuite } from './support/harness';

/**
 * The one-time SMS consent invitation is one per practice+patient+phone, not one per result: the
 * consent store records it (lookupSmsConsent reports it, claimConsentInvitation refuses a second
 * claim). Two results for the same patient give one invitation, also when their workflows race.
 */
describe('consent invitation: once per patient and number (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('two normal results for one unconsented patient: one invitation; the second routes portal-only, audited', async () => {
    await h.scenario({ smsConsent: false }, async (s) => {
      await s.advanceToNext(3, '11:00');
      const first = await s.start({ result: normalResult() });
      await s.signOff(first);
      await s.eventually('the first invitation', () => s.world.sms().length === 1);
      await s.untilNotified(first);

      const second = await s.start({ result: normalResult() });
      await s.signOff(second);
      await s.untilNotified(second);
      await s.quiesce(150);
      const invitations = s.world.sms().filter((m) => m.input.template === 'consent-invitation');
      assert.equal(invitations.length, 1, 'one invitation for the patient, however many results');
      assert.equal(invitations[0].input.workflowId, first.workflowId);
      assert.equal(s.world.portal().length, 2, 'each result still gets its portal note');
      const secondRouting = s.world
        .auditsOf('routing-decision')
        .filter((a) => a.workflowId === second.workflowId)
        .map((a) => a.outcome);
      assert.ok(secondRouting.includes('portal-only-already-invited'), JSON.stringify(secondRouting));
      // The second workflow never even tried to send one.
      assert.equal(
        s.world
          .callsOf('sendGenericSms')
          .filter((c) => (c.input as { workflowId: string }).workflowId === second.workflowId).length,
        0,
      );
    });
  });

  it('a race (both lookups saw no invitation): the claim lets one through and the other is refused, audited', async () => {
    await h.scenario({ smsConsent: false }, async (s) => {
      await s.advanceToNext(3, '11:00');
      // Both workflows look before either has claimed: the lookup cannot tell them apart.
      s.world.reportInvitations = false;
      const a = await s.start({ result: normalResult() });
      const b = await s.start({ result: normalResult() });
      await Promise.all([s.signOff(a), s.signOff(b)]);
      await s.untilNotified(a);
      await s.untilNotified(b);
      await s.quiesce(150);
      const claims = s.world.callsOf('claimConsentInvitation');
      assert.equal(claims.length, 2, 'both tried to claim');
      const invitations = s.world.sms().filter((m) => m.input.template === 'consent-invitation');
      assert.equal(invitations.length, 1, 'exactly one invitation went out');
      const loser = invitations[0].input.workflowId === a.workflowId ? b : a;
      assert.equal(
        s.world
          .callsOf('sendGenericSms')
          .filter((c) => (c.input as { workflowId: string }).workflowId === loser.workflowId).length,
        0,
        'the refused workflow never called Twilio',
      );
      const refused = s.world
        .auditsOf('routing-decision')
        .filter((x) => x.workflowId === loser.workflowId && x.outcome === 'consent-invitation-already-sent');
      assert.equal(refused.length, 1, 'the refusal is audited as already invited');
      assert.equal(s.world.pages().length, 0, 'an invitation that is not needed pages nobody');
      assert.equal((await s.status(loser)).state, 'notified');
    });
  });
});
