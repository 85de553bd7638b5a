import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { findPhi } from '../../domain/phi-guard';
import {
  genericSms,
  greetingName,
  MAX_GREETING_NAME_LENGTH,
  MAX_PRACTICE_NAME_LENGTH,
  printablePracticeName,
  renderSms,
  SMS_TEMPLATE_IDS,
} from '../../domain/sms-templates';
import { smsSegments } from '../../lib/sms/segments';
import { abnormalResult, criticalResult, normalResult } from '../workflows/support/fixtures';

const practiceName = 'Riverside Family Medicine';

describe('SMS templates', () => {
  it("results-ready is the issue's exact copy, with the first name", () => {
    assert.equal(
      renderSms('results-ready', { firstName: 'Dana', practiceName }).body,
      'Hi Dana, your lab results are ready in your patient portal. Reply HELP for help.',
    );
  });

  it('falls back to "Hi, …" when the name is missing, odd, too long or outside GSM-7', () => {
    for (const firstName of [
      undefined,
      '',
      '   ',
      'D4na',
      'Dana!',
      'Zoë',
      '李',
      'A'.repeat(MAX_GREETING_NAME_LENGTH + 1),
      '-Dana',
      'Dana😀',
    ]) {
      const sms = renderSms('results-ready', { ...(firstName !== undefined ? { firstName } : {}), practiceName });
      assert.equal(
        sms.body,
        'Hi, your lab results are ready in your patient portal. Reply HELP for help.',
        String(firstName),
      );
      assert.equal(sms.variant, 'generic');
    }
  });

  it('keeps plain names, including GSM accents, hyphens, apostrophes and inner spaces', () => {
    assert.equal(greetingName('  Mary   Jo '), 'Mary Jo');
    assert.equal(greetingName("D'Angelo"), "D'Angelo");
    assert.equal(greetingName('Jean-Luc'), 'Jean-Luc');
    assert.equal(greetingName('Renée'), 'Renée');
    assert.equal(greetingName('Zoë'), undefined);
  });

  it('names the practice in the secure-message prompt and the invitation, unless it cannot be printed', () => {
    assert.match(
      renderSms('secure-message-waiting', { firstName: 'Dana', practiceName }).body,
      /from Riverside Family Medicine\./,
    );
    assert.match(renderSms('secure-message-waiting', { practiceName: 'Clinic ☺' }).body, /from your care team\./);
    assert.equal(printablePracticeName('x'.repeat(MAX_PRACTICE_NAME_LENGTH + 1)), undefined);
  });

  it('the consent invitation says how to opt in and how to opt out', () => {
    const body = renderSms('consent-invitation', { firstName: 'Dana', practiceName }).body;
    assert.match(body, /Reply YES to opt in/);
    assert.match(body, /STOP to opt out/);
    assert.match(body, /^Riverside Family Medicine: /);
    assert.ok(!body.includes('Dana'), 'no name before consent');
  });

  it('generic variants interpolate nothing', () => {
    for (const template of SMS_TEMPLATE_IDS) {
      const generic = genericSms(template).body;
      assert.ok(!generic.includes('Riverside') && !generic.includes('Dana'), template);
    }
  });

  it('every body fits one GSM-7 segment, whatever name and practice name it is given', () => {
    const nameChar = fc.constantFrom(
      ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzÄÖÑÜäöñüàèéùìòÇØøÅåÆæßÉ'- ",
    );
    const anyChar = fc.oneof(nameChar, fc.constantFrom(...'0123456789&.,€[]{}~^|\\😀李ëç'));
    fc.assert(
      fc.property(
        fc.constantFrom(...SMS_TEMPLATE_IDS),
        fc.option(fc.string({ unit: fc.oneof(nameChar, anyChar), maxLength: 30 }), { nil: undefined }),
        fc.string({ unit: fc.oneof(nameChar, anyChar), minLength: 1, maxLength: 60 }),
        (template, firstName, practice) => {
          const { body } = renderSms(template, {
            ...(firstName !== undefined ? { firstName } : {}),
            practiceName: practice,
          });
          const segments = smsSegments(body);
          assert.equal(segments.encoding, 'GSM-7', body);
          assert.equal(segments.segments, 1, body);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('no template carries anything the PHI guard would flag', () => {
    for (const result of [normalResult(), abnormalResult(), criticalResult()]) {
      for (const template of SMS_TEMPLATE_IDS) {
        assert.deepEqual(findPhi(renderSms(template, { firstName: 'Dana', practiceName }).body, result), [], template);
        assert.deepEqual(findPhi(genericSms(template).body, result), [], template);
      }
    }
  });
});
