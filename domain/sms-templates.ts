/**
 * The only SMS bodies labloop sends to patients. None carries PHI: no test, value, date or clinical
 * word, only a first name (when it is plainly a name) and the practice's name. Every body fits one
 * GSM-7 segment (160 septets) by construction: interpolated text is limited to characters that cost
 * one septet each and to lengths that keep the longest body under 160
 * (test/unit/sms-templates.test.ts checks this with the carrier segment counter).
 *
 * Each template has a generic variant with nothing interpolated at all. The PHI guard falls back to
 * it, and the workflow uses it whenever a name cannot be used safely.
 */

export const SMS_TEMPLATE_IDS = [
  'results-ready',
  'secure-message-waiting',
  'updated-result',
  'consent-invitation',
] as const;
export type SmsTemplateId = (typeof SMS_TEMPLATE_IDS)[number];

/** `personal` carries the first name or practice name; `generic` carries nothing interpolated. */
export type SmsVariant = 'personal' | 'generic';

export interface SmsTemplateInput {
  firstName?: string;
  practiceName: string;
}

export interface RenderedSms {
  template: SmsTemplateId;
  variant: SmsVariant;
  body: string;
}

/** Longest first name used in a greeting; longer names (or odd ones) get "Hi, …". */
export const MAX_GREETING_NAME_LENGTH = 20;
/** Longest practice name placed in a body (the practice registry allows 40). */
export const MAX_PRACTICE_NAME_LENGTH = 40;

/**
 * Letters of the GSM 03.38 basic table (one septet each), so a name never forces UCS-2, which would
 * cut the segment to 70 characters and double the cost.
 */
const GSM_LETTERS = 'A-Za-zÄÖÑÜäöñüàèéùìòÇØøÅåÆæßÉ';
const NAME_PATTERN = new RegExp(`^[${GSM_LETTERS}](?:[${GSM_LETTERS}' -]*[${GSM_LETTERS}])?$`);
/** Practice names may also carry digits and a little punctuation; all one septet in GSM-7. */
const PRACTICE_PATTERN = new RegExp(`^[${GSM_LETTERS}0-9](?:[${GSM_LETTERS}0-9 &'.,-]*[${GSM_LETTERS}0-9.])?$`);

/** The placeholder when the practice name cannot be printed safely. */
const CARE_TEAM = 'your care team';

function normaliseSpaces(text: string): string {
  return text.trim().replace(/\s+/g, ' ');
}

/**
 * The first name as it may appear in a greeting, or undefined when it is missing, too long or has
 * characters outside the GSM-7 letters (digits, emoji, punctuation: likely not a plain name).
 */
export function greetingName(firstName: string | undefined): string | undefined {
  if (firstName === undefined) return undefined;
  const name = normaliseSpaces(firstName);
  if (name.length === 0 || name.length > MAX_GREETING_NAME_LENGTH || !NAME_PATTERN.test(name)) return undefined;
  return name;
}

/** The practice name as it may appear in a body, or undefined when it cannot be printed safely. */
export function printablePracticeName(practiceName: string): string | undefined {
  const name = normaliseSpaces(practiceName);
  if (name.length === 0 || name.length > MAX_PRACTICE_NAME_LENGTH || !PRACTICE_PATTERN.test(name)) return undefined;
  return name;
}

function hi(name: string | undefined): string {
  return name === undefined ? 'Hi' : `Hi ${name}`;
}

function compose(template: SmsTemplateId, name: string | undefined, practice: string | undefined): string {
  switch (template) {
    case 'results-ready':
      return `${hi(name)}, your lab results are ready in your patient portal. Reply HELP for help.`;
    case 'updated-result':
      return `${hi(name)}, an updated lab result is ready in your patient portal. Reply HELP for help.`;
    case 'secure-message-waiting':
      return `${hi(name)}, you have a secure message from ${practice ?? CARE_TEAM}. Check your patient portal. Reply HELP for help.`;
    case 'consent-invitation':
      // Sent before any consent exists, so it names the sender and says how to opt in and out (CTIA).
      return (
        `${practice ?? 'Your care team'}: want a text when your lab results are ready? ` +
        'Reply YES to opt in, STOP to opt out. Msg&data rates may apply.'
      );
  }
}

/**
 * Render a template for a patient. The body is `personal` when a name or the practice name was
 * used, `generic` when nothing could be interpolated.
 */
export function renderSms(template: SmsTemplateId, input: SmsTemplateInput): RenderedSms {
  const name = template === 'consent-invitation' ? undefined : greetingName(input.firstName);
  const practice =
    template === 'secure-message-waiting' || template === 'consent-invitation'
      ? printablePracticeName(input.practiceName)
      : undefined;
  const variant: SmsVariant = name === undefined && practice === undefined ? 'generic' : 'personal';
  return { template, variant, body: compose(template, name, practice) };
}

/** The template with nothing interpolated: what the PHI guard substitutes for a body it rejects. */
export function genericSms(template: SmsTemplateId): RenderedSms {
  return { template, variant: 'generic', body: compose(template, undefined, undefined) };
}
