import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { createConsentActivities } from '../../activities/consent';
import { ActivityErrorType } from '../../domain/activity-error-types';
import { claimConsentInvitation, getConsentInvitation, setSmsConsent } from '../../lib/consent/repository';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * The consent invitation record (migration 230, lib/consent/repository.ts) on a real PostgreSQL:
 * one invitation per practice+patient+phone, atomic under concurrent claims, idempotent for the
 * send that holds it, and reported by the routing lookup.
 */
describe('consent invitation record (PostgreSQL)', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('consent_invitation');
  });
  after(async () => {
    await db?.close();
  });

  const key = (patientId: string, phone = '+16175550123') => ({ practiceId: '195900', patientId, phone });
  const send = (workflowId: string, resultVersion = 1) => ({
    workflowId,
    resultVersion,
    step: 'sms-consent-invitation',
  });

  it('the first claim wins; the same send may claim again; any other send is refused', async () => {
    const first = await claimConsentInvitation(db.pool, { ...key('P-1'), send: send('wf-a') });
    assert.equal(first.claimed, true);
    const retry = await claimConsentInvitation(db.pool, { ...key('P-1'), send: send('wf-a') });
    assert.equal(retry.claimed, true, 'a retried activity of the same send');
    const other = await claimConsentInvitation(db.pool, { ...key('P-1'), send: send('wf-b') });
    assert.equal(other.claimed, false);
    assert.equal(other.record.workflowId, 'wf-a');
    const laterVersion = await claimConsentInvitation(db.pool, { ...key('P-1'), send: send('wf-a', 2) });
    assert.equal(laterVersion.claimed, false, 'another version of the same workflow is another send');
    const recorded = await getConsentInvitation(db.pool, key('P-1'));
    assert.deepEqual(recorded && [recorded.workflowId, recorded.resultVersion, recorded.step], [
      'wf-a',
      1,
      'sms-consent-invitation',
    ]);
  });

  it('is per practice, patient and phone', async () => {
    await claimConsentInvitation(db.pool, { ...key('P-2'), send: send('wf-c') });
    assert.equal((await claimConsentInvitation(db.pool, { ...key('P-3'), send: send('wf-d') })).claimed, true);
    assert.equal(
      (await claimConsentInvitation(db.pool, { ...key('P-2', '+16175550999'), send: send('wf-e') })).claimed,
      true,
      'a new number is a new invitation',
    );
    assert.equal(
      (await claimConsentInvitation(db.pool, { ...key('P-2'), practiceId: 'other', send: send('wf-f') })).claimed,
      true,
    );
  });

  it('twenty concurrent claims for one number: exactly one wins', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        claimConsentInvitation(db.pool, { ...key('P-race'), send: send(`wf-${i}`) }),
      ),
    );
    const winners = outcomes.filter((o) => o.claimed);
    assert.equal(winners.length, 1);
    for (const o of outcomes) assert.equal(o.record.workflowId, winners[0].record.workflowId);
  });

  it('the activities: the lookup reports the invitation, and a second claim fails non-retryably by name', async () => {
    const activities = createConsentActivities({ pool: db.pool });
    const lookupKey = key('P-4');
    assert.deepEqual(await activities.lookupSmsConsent(lookupKey), { consented: false });
    await activities.claimConsentInvitation({ ...lookupKey, ...send('wf-g') });
    const after = await activities.lookupSmsConsent(lookupKey);
    assert.equal(after.consented, false);
    assert.ok(after.invitationSentAt !== undefined && !Number.isNaN(Date.parse(after.invitationSentAt)));
    await activities.claimConsentInvitation({ ...lookupKey, ...send('wf-g') });
    await assert.rejects(
      activities.claimConsentInvitation({ ...lookupKey, ...send('wf-h') }),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.nonRetryable &&
        err.type === ActivityErrorType.CONSENT_INVITATION_ALREADY_SENT,
    );
    await setSmsConsent(db.pool, { ...lookupKey, consented: true, source: 'invitation' });
    assert.equal((await activities.lookupSmsConsent(lookupKey)).consented, true);
  });
});
