import { parsePhoneNumberFromString } from 'libphonenumber-js';

/** Numbers without a country code are read as US numbers: every practice we serve is in the US. */
const DEFAULT_COUNTRY = 'US';

/**
 * A phone number in any common written form (`(617) 555-1234`, `617.555.1234`, `+1 617 555 1234`)
 * as E.164 (`+16175551234`), or `undefined` when it is not a valid number. It cannot tell a mobile
 * from a landline: US numbers share one plan, so callers rely on what the source says.
 */
export function toE164(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const parsed = parsePhoneNumberFromString(trimmed, DEFAULT_COUNTRY);
  return parsed?.isValid() === true ? parsed.number : undefined;
}
