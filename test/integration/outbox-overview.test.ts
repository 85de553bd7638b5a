import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SpruceResultRequest } from '../../domain/activity-contract';
import { setSmsConsent } from '../../lib/consent/repository';
import { startAthenaFake, type AthenaFake } from '../../sandbox/fakes/athena';
import type { FakeHttpServer } from '../../sandbox/fakes/shared/http';
import { startSpruceFake, type SpruceFake } from '../../sandbox/fakes/spruce';
import { startTwilioFake, type TwilioFake } from '../../sandbox/fakes/twilio';
import { startSandboxOutbox, type OverviewPatient } from '../../sandbox/outbox-overview';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { smsActivitiesForFake, spruceActivitiesForFake } from '../support/channel-activities';

/**
 * The sandbox's one outbox page (sandbox/outbox-overview.ts) over real HTTP: a patient's SMS (sent
 * through the Twilio fake) and secure Spruce message (through the Spruce fake) appear under that
 * patient, each with what the fake received, and nothing of another patient's.
 */

const ACCOUNT_SID = `AC${'5'.repeat(32)}`;
const AUTH_TOKEN = 'outbox-overview-token-0123456789';
const SERVICE_SID = `MG${'5'.repeat(32)}`;
const SPRUCE_TOKEN = 'outbox-overview-spruce';
const PRACTICE = '195900';
const SMS_BODY = 'Riverside Family Medicine: new results are ready in your portal. Reply STOP to opt out.';

describe('sandbox outbox page: everything sent, by patient and channel', () => {
  let db: TestDatabase;
  let twilio: TwilioFake;
  let spruce: SpruceFake;
  let athena: AthenaFake;
  let page: FakeHttpServer;

  before(async () => {
    db = await createTestDatabase('outbox_overview');
    twilio = await startTwilioFake({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
    spruce = await startSpruceFake({ token: SPRUCE_TOKEN });
    athena = await startAthenaFake({ clientId: 'c', clientSecret: 's' });
    page = await startSandboxOutbox({ pool: db.pool, fakes: { twilio, spruce, athena } });
  });
  after(async () => {
    await page?.close();
    await twilio?.close();
    await spruce?.close();
    await athena?.close();
    await db?.close();
  });

  it("shows a patient's SMS and Spruce message under that patient, with what was sent", async () => {
    const patientId = 'ov-1';
    const phone = '+15550901001';
    await setSmsConsent(db.pool, { practiceId: PRACTICE, patientId, phone, consented: true, source: 'staff' });
    const { sendGenericSms } = smsActivitiesForFake(db.pool, {
      twilioUrl: twilio.url,
      account: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, messagingServiceSid: SERVICE_SID },
      statusCallbackUrl: 'http://127.0.0.1:9/webhooks/twilio/status',
    });
    const workflowId = `lab-result-${PRACTICE}-${'1'.repeat(32)}`;
    const sms = await sendGenericSms({
      workflowId,
      resultVersion: 1,
      step: 'sms-results-ready',
      practiceId: PRACTICE,
      patientId,
      to: phone,
      body: SMS_BODY,
      template: 'results-ready',
      requiresConsent: true,
    });
    spruce.seedContact({
      givenName: 'Ola',
      familyName: 'Nyberg',
      phone,
      externalId: patientId,
      hasSpruceAccount: true,
    });
    const request: SpruceResultRequest = {
      workflowId,
      resultVersion: 1,
      step: 'spruce-result',
      practiceId: PRACTICE,
      practiceName: 'Riverside Family Medicine',
      result: {
        source: 'athena',
        practiceId: PRACTICE,
        resultId: 'r-ov-1',
        messageId: 'm',
        status: 'final',
        patient: { id: patientId, firstName: 'Ola', lastName: 'Nyberg', mobilePhone: phone },
        observations: [{ code: '718-7', name: 'Hemoglobin', value: '13.1', units: 'g/dL' }],
      },
      schedulingUrl: '',
      updated: false,
    };
    const secure = await spruceActivitiesForFake(db.pool, {
      spruceApiBaseUrl: spruce.apiBaseUrl,
      token: SPRUCE_TOKEN,
    }).sendSpruceResult(request);
    await spruce.idle();
    // Someone else's text, which must not show under this patient.
    await setSmsConsent(db.pool, {
      practiceId: PRACTICE,
      patientId: 'ov-2',
      phone: '+15550901002',
      consented: true,
      source: 'staff',
    });
    await sendGenericSms({
      workflowId: `lab-result-${PRACTICE}-${'2'.repeat(32)}`,
      resultVersion: 1,
      step: 'sms-results-ready',
      practiceId: PRACTICE,
      patientId: 'ov-2',
      to: '+15550901002',
      body: SMS_BODY,
      template: 'results-ready',
      requiresConsent: true,
    });

    const json = (await (await fetch(`${page.url}/outbox.json`)).json()) as { patients: OverviewPatient[] };
    const mine = json.patients.find((p) => p.patientId === patientId);
    assert.ok(mine !== undefined, 'the patient has a section');
    assert.deepEqual(
      mine.sends.map((s) => [s.channel, s.providerMessageId]),
      [
        ['sms', sms.providerMessageId],
        ['spruce', secure.messageRef],
      ],
    );
    assert.equal(mine.sends[0]?.content, SMS_BODY, 'the SMS as the Twilio fake received it');
    assert.match(mine.sends[1]?.content ?? '', /Riverside Family Medicine: your lab results are attached/);
    assert.ok(json.patients.some((p) => p.patientId === 'ov-2' && p.sends.length === 1));

    const html = await (await fetch(page.url)).text();
    const section = html.slice(html.indexOf(`Patient ${patientId} `), html.indexOf('Patient ov-2 '));
    assert.ok(section.includes(sms.providerMessageId) && section.includes(secure.messageRef), 'both under the patient');
    assert.ok(section.includes('your lab results are attached'));
  });
});
