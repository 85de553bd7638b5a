import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, type Payload } from '@temporalio/common';
import { FAILURE_CONVERTER_PATH } from '../../lib/temporal/data-converter';
import { EncryptionCodec, parseCodecKeys } from '../../lib/temporal/encryption-codec';
import { TEST_CODEC_KEYS } from '../support/temporal';
import { temporal } from '@temporalio/proto';
import { UNENCRYPTED_PAYLOAD_ERROR } from '../../lib/temporal/unencrypted-payload';
import { resultReceivedSignal, signOffUpdate, type SignOffRequest } from '../../workflows/definitions';
import { newVersion, normalResult } from './support/fixtures';
import { workflowHarnessForSuite, type LabHandle, type Scenario } from './support/harness';

/**
 * A client that can reach Temporal but does not hold labloop's codec keys (a rogue client, a tool, a
 * UI with write actions on) sends plain JSON. The worker refuses it by name: a plaintext `signOff`
 * is rejected with UnencryptedPayload and signs nothing; a fake `resultReceived` claiming the
 * provider signed is dropped and changes nothing, while the workflow keeps working for labloop's
 * own encrypted messages.
 */

const SIGN_OFF: SignOffRequest = { providerId: 'prov-1', practiceId: '195900', via: 'review-app', expectedVersion: 1 };

/**
 * A Temporal client on the same server that sends plain JSON. `readsAnswers`: it can still decrypt
 * what comes back (so the test can read the refusal; a real rogue client cannot).
 */
function rogueHandle(s: Scenario, handle: LabHandle, readsAnswers = true): LabHandle {
  const codec = new EncryptionCodec(parseCodecKeys(TEST_CODEC_KEYS));
  const rogue = new Client({
    connection: s.env.connection,
    namespace: s.env.namespace ?? 'default',
    ...(readsAnswers
      ? {
          dataConverter: {
            payloadCodecs: [
              { encode: (p: Payload[]) => Promise.resolve(p), decode: (p: Payload[]) => codec.decode(p) },
            ],
            failureConverterPath: FAILURE_CONVERTER_PATH,
          },
        }
      : {}),
  });
  return rogue.workflow.getHandle(handle.workflowId);
}

const EVENT = temporal.api.enums.v1.EventType;

describe('unencrypted payloads reaching the worker (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('a plaintext signOff update is rejected with UnencryptedPayload, never reaches history, and signs nothing', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      const before = await s.untilStatus(
        handle,
        'version 1',
        (v) => v.state === 'awaiting-sign-off' && v.version === 1,
      );
      assert.equal(before.version, 1);

      await assert.rejects(rogueHandle(s, handle).executeUpdate(signOffUpdate, { args: [SIGN_OFF] }), (err) => {
        assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
        assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
        assert.equal(err.cause.type, UNENCRYPTED_PAYLOAD_ERROR);
        assert.match(err.cause.message, /not encrypted with labloop's payload codec/);
        return true;
      });

      // Without the keys it is refused all the same, and cannot even read why (the failure is encrypted).
      await assert.rejects(
        rogueHandle(s, handle, false).executeUpdate(signOffUpdate, { args: [SIGN_OFF] }),
        /Unknown encoding: binary\/encrypted/,
      );

      const after = await s.status(handle);
      assert.equal(after.signed, false);
      assert.deepEqual(
        { state: after.state, version: after.version, signedBy: after.signedBy },
        { state: before.state, version: before.version, signedBy: undefined },
        'the refused update changed nothing',
      );
      const events = (await handle.fetchHistory()).events ?? [];
      assert.ok(
        !events.some((e) => e.eventType === EVENT.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
        'a rejected update is never accepted into history',
      );
      assert.equal(s.world.patientSendAttempts().length, 0, 'nothing went to the patient');

      // The same request from labloop's own (encrypting) client signs: the refusal was the encoding.
      const signed = await s.signOff(handle);
      assert.deepEqual([signed.alreadySigned, signed.signedBy], [false, 'prov-1']);
      assert.equal((await s.status(handle)).signed, true);
    });
  });

  it('a plaintext resultReceived claiming a provider signed is dropped: no new version, not signed, timers still run', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      const before = await s.untilStatus(
        handle,
        'version 1',
        (v) => v.state === 'awaiting-sign-off' && v.version === 1,
      );

      const forged = newVersion(v1, { status: 'corrected', signedOff: { providerId: 'prov-1' } });
      await rogueHandle(s, handle).signal(resultReceivedSignal, { result: forged, receivedAt: await s.nowIso() });
      // The signal is in history (the server took it) and a workflow task has run on it.
      await s.eventually('the rogue signal processed', async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        const signalAt = events.findIndex((e) => e.eventType === EVENT.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
        const lastSignal = events.findLastIndex((e) => e.eventType === EVENT.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
        return (
          signalAt >= 0 &&
          events.slice(lastSignal).some((e) => e.eventType === EVENT.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        );
      });
      const events = (await handle.fetchHistory()).events ?? [];
      assert.ok(
        !events.some((e) => e.eventType === EVENT.EVENT_TYPE_WORKFLOW_TASK_FAILED),
        'the workflow task completed: the signal was dropped, not a failure that stalls the result',
      );
      const after = await s.status(handle);
      assert.equal(after.version, before.version, 'no new version from the forged signal');
      assert.equal(after.signed, false, 'a forged source sign-off signs nothing');
      assert.equal(s.world.patientSendAttempts().length, 0, 'nothing went to the patient');

      // labloop's own encrypted correction still lands.
      await s.receive(handle, newVersion(v1, { status: 'corrected' }));
      await s.untilStatus(handle, 'version 2', (v) => v.version === 2);
    });
  });
});
