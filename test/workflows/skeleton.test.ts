import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../activities';
import { createLabloopWorker } from '../../worker/create-worker';
import { getStatusQuery, deliveryStatusSignal, LAB_RESULT_WORKFLOW_TYPE } from '../../workflows/definitions';
import { createTimeSkippingEnv, TEST_CODEC_KEYS, workflowBundle } from '../support/temporal';
import { normalSignedResult, sandboxPolicy } from '../fixtures/results';

describe('walking skeleton workflow (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await createTimeSkippingEnv();
  });
  after(async () => {
    await env?.teardown();
  });

  it('sends one generic SMS for a normal signed result and reports delivery', async () => {
    const sent: { to: string; body: string }[] = [];
    const activities = {
      appendAudit: async () => undefined,
      linkWorkflowPatient: async () => undefined,
      closeWorkflowPatient: async () => undefined,
      checkSmsConsent: async () => true,
      sendGenericSms: async (req: { to: string; body: string }) => {
        sent.push({ to: req.to, body: req.body });
        return { providerMessageId: 'SM' + '0'.repeat(32), alreadySent: false };
      },
    } as unknown as Activities;
    const taskQueue = `test-${randomUUID()}`;
    const worker = await createLabloopWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      codecKeys: TEST_CODEC_KEYS,
      activities,
      taskQueue,
      workflowBundle: await workflowBundle(),
    });
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(LAB_RESULT_WORKFLOW_TYPE, {
        taskQueue,
        workflowId: `lab-result-195900-${randomUUID().replace(/-/g, '')}`,
        args: [{ result: normalSignedResult(), receivedAt: new Date().toISOString(), policy: sandboxPolicy() }],
      });
      // Wait for the send, then report delivery.
      for (let i = 0; i < 50 && sent.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      if (sent.length === 0) {
        const h = await handle.fetchHistory();
        for (const e of h.events ?? []) console.log(e.eventType, JSON.stringify(e.workflowTaskFailedEventAttributes?.failure?.message ?? ''));
      }
      assert.equal(sent.length, 1);
      assert.match(sent[0]!.body, /^Hi Dana, your lab results are ready in your patient portal\./);
      await handle.signal(deliveryStatusSignal, {
        channel: 'sms',
        providerMessageId: 'SM' + '0'.repeat(32),
        status: 'delivered',
        at: new Date().toISOString(),
      });
      const final = await handle.result();
      assert.equal(final.state, 'notified');
      const status = await handle.query(getStatusQuery);
      assert.equal(status.deliveries[0]?.status, 'delivered');
    });
  });
});
