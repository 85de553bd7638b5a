import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SERVICE_NUMBER } from '../../sandbox/fakes/twilio';
import type { Stack } from '../../sandbox/stack';
import { assertAuditChainIntact, auditRows } from '../fixtures/e2e/loop';
import { startTestStack } from '../support/stack';

/**
 * HELP in the sandbox, as a patient sees it. Twilio answers an exact HELP itself with the
 * Messaging Service's Advanced Opt-Out reply, so the sandbox's Twilio fake is configured the way
 * the README asks an operator to configure Twilio: the practice's Messaging Service answers HELP
 * with the practice's `smsHelpText`, not Twilio's default text. A HELP Twilio does not recognise
 * ("help!") is answered by labloop with the same text, and audited as a send.
 */

const PRACTICE = '195900';
/** Not a fixture patient: a number labloop knows nothing about. */
const STRANGER = '+16175550142';

describe("HELP in the sandbox: the patient gets the practice's help text", () => {
  let stack: Stack;
  let helpText: string;

  before(async () => {
    stack = await startTestStack();
    helpText = stack.practices.policy(PRACTICE)?.smsHelpText ?? '';
    assert.notEqual(helpText, '');
  });
  after(async () => {
    await stack?.stop();
  });

  const repliesTo = (phone: string) =>
    stack.fakes.twilio
      .messages()
      .filter((m) => m.direction === 'outbound-reply' && m.to === phone)
      .map((m) => m.body);

  it("a plain HELP gets exactly one reply, the practice's smsHelpText", async () => {
    const inbound = await stack.fakes.twilio.simulateInbound({
      from: STRANGER,
      to: DEFAULT_SERVICE_NUMBER,
      body: 'HELP',
    });
    assert.equal(inbound.webhookStatus, 200);
    assert.deepEqual(inbound.twimlReplies, [], 'labloop does not answer what Twilio answers');
    assert.deepEqual(repliesTo(STRANGER), [helpText]);
  });

  it('a HELP Twilio does not take for its keyword gets the same text from labloop, audited as a send', async () => {
    const inbound = await stack.fakes.twilio.simulateInbound({
      from: STRANGER,
      to: DEFAULT_SERVICE_NUMBER,
      body: 'help!',
    });
    assert.equal(inbound.webhookStatus, 200);
    assert.deepEqual(inbound.twimlReplies, [helpText]);
    assert.deepEqual(repliesTo(STRANGER), [helpText, helpText], 'one reply per HELP');
    const sends = (await auditRows(stack)).filter((r) => r.action === 'send' && r.details.event === inbound.sid);
    assert.deepEqual(
      sends.map((r) => [r.channel, r.template, r.actor_type, r.patient_id]),
      [['sms', 'sms-help-reply', 'system', null]],
    );
    await assertAuditChainIntact(stack);
  });
});
