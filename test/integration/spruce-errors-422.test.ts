import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import type { SpruceResultRequest } from '../../domain/activity-contract';
import { ActivityErrorType } from '../../domain/activity-error-types';
import {
  createSpruceClient,
  isDuplicateRequestError,
  SPRUCE_VALIDATION_ERROR,
  SpruceError,
  SpruceValidationError,
  type SpruceClient,
} from '../../lib/clients/spruce';
import { DEFAULT_SECURE_ENDPOINT_ID, startSpruceFake, type SpruceFake } from '../../sandbox/fakes/spruce';
import { spruceActivitiesForFake } from '../support/channel-activities';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * Spruce answers 422 for two different things: a write whose `s-idempotency-key` it has seen
 * ("duplicate request", §3.1: the first attempt landed) and a request it refuses. Only the first
 * may be taken as done; the second is a permanent validation error, or a send that never happened
 * would be recorded as sent. The fake answers both in Spruce's documented error shape
 * `{statusCode, type, message}`.
 */

const TOKEN = 'spruce-422-token';
const PRACTICE = '195900';

describe('Spruce 422: duplicate request versus a refused request', () => {
  let fake: SpruceFake;
  let spruce: SpruceClient;
  let db: TestDatabase;

  before(async () => {
    db = await createTestDatabase('spruce_422');
    fake = await startSpruceFake({ token: TOKEN, messageDelayMs: 1 });
    spruce = createSpruceClient({ baseUrl: fake.apiBaseUrl, token: TOKEN });
  });
  after(async () => {
    await fake?.close();
    await db?.close();
  });

  async function thread(n: number) {
    const { id } = fake.seedContact({
      givenName: 'Lee',
      familyName: `Park${n}`,
      phone: `+1555072${String(1000 + n).slice(-4)}`,
      hasSpruceAccount: true,
    });
    const conversation = await spruce.createSecureConversation({
      contactId: id,
      internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
      subject: 'Results',
      idempotencyKey: `422-conv-${n}`,
    });
    assert.ok(!conversation.alreadyDone);
    return conversation.conversationId;
  }

  it('recognises only the documented duplicate answer as "already done"', () => {
    assert.equal(isDuplicateRequestError(422, { type: 'DUPLICATE_REQUEST', message: 'duplicate request' }), true);
    assert.equal(isDuplicateRequestError(422, { message: 'Duplicate request' }), true);
    assert.equal(isDuplicateRequestError(422, { type: 'invalid_input', message: 'body: too long' }), false);
    assert.equal(isDuplicateRequestError(422, {}), false);
    assert.equal(isDuplicateRequestError(422, undefined), false, 'an unreadable body is not a duplicate');
    assert.equal(isDuplicateRequestError(400, { message: 'duplicate request' }), false);
  });

  it('a repeated key is a duplicate (alreadyDone); any other 422 is a SpruceValidationError', async () => {
    const conversationId = await thread(1);
    const first = await spruce.postMessage({ conversationId, text: 'One', idempotencyKey: '422-m-1' });
    assert.equal(first.alreadyDone, false);
    const repeat = await spruce.postMessage({ conversationId, text: 'One', idempotencyKey: '422-m-1' });
    assert.deepEqual(repeat, { alreadyDone: true });

    fake.failNext({ kind: 'error', status: 422 }, 1, { path: '/messages$' });
    const refused = await spruce.postMessage({ conversationId, text: 'Two', idempotencyKey: '422-m-2' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(refused instanceof SpruceValidationError, 'not taken for a duplicate');
    assert.ok(refused instanceof SpruceError);
    assert.deepEqual(
      [refused.name, refused.kind, refused.status, refused.type],
      [SPRUCE_VALIDATION_ERROR, 'permanent', 422, 'invalid_input'],
    );
    await fake.idle();
    assert.equal(
      fake.items().filter((i) => i.text === 'Two').length,
      0,
      'nothing was posted, so nothing may be recorded as sent',
    );
  });

  it('the result message activity fails for good on a refused 422, and records no pending send', async () => {
    const activities = spruceActivitiesForFake(db.pool, { spruceApiBaseUrl: fake.apiBaseUrl, token: TOKEN });
    const patientId = 'p-422';
    const phone = '+15550729001';
    fake.seedContact({ givenName: 'Kai', familyName: 'Ono', phone, externalId: patientId, hasSpruceAccount: true });
    const request: SpruceResultRequest = {
      workflowId: `lab-result-${PRACTICE}-${'4'.repeat(32)}`,
      resultVersion: 1,
      step: 'spruce-result',
      practiceId: PRACTICE,
      practiceName: 'Riverside Family Medicine',
      result: {
        source: 'athena',
        practiceId: PRACTICE,
        resultId: 'r-422',
        messageId: 'm',
        status: 'final',
        patient: { id: patientId, firstName: 'Kai', lastName: 'Ono', mobilePhone: phone },
        observations: [{ code: '718-7', name: 'Hemoglobin', value: '13.1', units: 'g/dL' }],
      },
      schedulingUrl: '',
      updated: false,
    };
    fake.failNext({ kind: 'error', status: 422 }, 1, { path: '/messages$' });
    await assert.rejects(
      activities.sendSpruceResult(request),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.nonRetryable &&
        err.type === ActivityErrorType.SPRUCE_PERMANENT &&
        (err.details?.[0] as { error?: string } | undefined)?.error === SPRUCE_VALIDATION_ERROR,
    );
    const { rows } = await db.pool.query<{ status: string; provider_message_id: string | null }>(
      `SELECT status, provider_message_id FROM outbox WHERE workflow_id = $1`,
      [request.workflowId],
    );
    assert.deepEqual(rows, [{ status: 'failed', provider_message_id: null }]);
  });
});
