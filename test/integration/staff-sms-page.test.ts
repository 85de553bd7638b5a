import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import type { StaffSmsPageRequest } from '../../domain/activity-contract';
import type { SmsGateway } from '../../activities/deps';
import { ActivityErrorType } from '../../domain/activity-error-types';
import { createStaffSmsPageActivities } from '../../activities/staff-sms-page';
import { createAuditLog } from '../../lib/audit';
import { TwilioSendError } from '../../lib/clients/twilio';
import { loadPracticeRegistry } from '../../lib/practices';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * The SMS path of a critical page (activities/staff-sms-page.ts) against a real outbox and audit
 * log: to the staff member's pagerPhone, generic text with the review link, once per send key.
 */
describe('staff SMS page activity (PostgreSQL, stub Twilio gateway)', () => {
  let db: TestDatabase;
  const sent: { to: string; body: string }[] = [];
  let failWith: Error | undefined;
  const gateway: SmsGateway = {
    sendSms: (input) => {
      if (failWith !== undefined) return Promise.reject(failWith);
      sent.push({ to: input.to, body: input.body });
      return Promise.resolve({ sid: `SM${String(sent.length).padStart(32, '0')}`, status: 'queued' });
    },
    findRecentMessages: () => Promise.resolve([]),
  };
  const practices = loadPracticeRegistry('config/practices.sandbox.json');
  const activities = () =>
    createStaffSmsPageActivities({
      pool: db.pool,
      audit: createAuditLog(db.pool),
      sms: gateway,
      smsStatusCallbackUrl: 'https://labloop.example/webhooks/twilio/status',
      practices,
      now: () => new Date(),
      reviewBaseUrl: 'https://labloop.example/review',
    });
  const request = (overrides: Partial<StaffSmsPageRequest> = {}): StaffSmsPageRequest => ({
    workflowId: 'lab-result-195900-0123456789abcdef0123',
    resultVersion: 1,
    step: 'page-critical-oncall-sms',
    practiceId: '195900',
    staffId: 'prov-oncall',
    reason: 'critical-result',
    ...overrides,
  });

  before(async () => {
    db = await createTestDatabase('staff_sms_page');
  });
  after(async () => {
    await db?.close();
  });

  it('texts the pager phone a generic page with the review link, once per send key', async () => {
    const first = await activities().sendStaffSmsPage(request());
    assert.equal(first.alreadySent, false);
    assert.deepEqual(sent, [
      {
        to: '+16175550193',
        body: 'Riverside Family Medicine: URGENT. Critical lab result needs action (Spruce paging is failing). https://labloop.example/review/results/lab-result-195900-0123456789abcdef0123',
      },
    ]);
    const again = await activities().sendStaffSmsPage(request());
    assert.deepEqual([again.alreadySent, again.pageRef], [true, first.pageRef]);
    assert.equal(sent.length, 1, 'a retry never texts twice');
    const { rows } = await db.pool.query<{ channel: string; status: string; template: string }>(
      `SELECT channel, status, template FROM outbox WHERE step = 'page-critical-oncall-sms'`,
    );
    assert.deepEqual(rows, [{ channel: 'page', status: 'sent', template: 'sms-page-critical-result' }]);
    const { rows: audits } = await db.pool.query<{ action: string; outcome: string }>(
      `SELECT action, outcome FROM audit_log WHERE details->>'step' = 'page-critical-oncall-sms' ORDER BY seq`,
    );
    assert.deepEqual(
      audits.map((a) => `${a.action}:${a.outcome}`),
      ['send-intent:recorded', 'page:sent'],
    );
  });

  it('refuses for good when the staff member has no pagerPhone, or Twilio refuses; retries otherwise', async () => {
    await assert.rejects(
      activities().sendStaffSmsPage(request({ staffId: 'staff-1', step: 'no-phone' })),
      (err: unknown) =>
        err instanceof ApplicationFailure && err.nonRetryable && err.type === ActivityErrorType.CONFIGURATION,
    );
    failWith = new TwilioSendError('refused', { kind: 'permanent', code: 21211, httpStatus: 400 });
    await assert.rejects(
      activities().sendStaffSmsPage(request({ step: 'refused' })),
      (err: unknown) =>
        err instanceof ApplicationFailure && err.nonRetryable && err.type === ActivityErrorType.SMS_PERMANENT,
    );
    failWith = new TwilioSendError('down', { kind: 'retryable', httpStatus: 503 });
    await assert.rejects(
      activities().sendStaffSmsPage(request({ step: 'down' })),
      (err: unknown) => err instanceof ApplicationFailure && !err.nonRetryable,
    );
    failWith = undefined;
  });
});
