/**
 * How many SMS segments a body costs, the way carriers (and Twilio's billing) count them.
 *
 * A single SMS carries 140 bytes of user data. GSM-7 packs 7-bit septets into it (160 of them);
 * anything outside the GSM 03.38 alphabet forces UCS-2, two bytes per UTF-16 code unit (70 of them).
 * A longer body is split into concatenated parts, each losing 6 bytes to the user-data header:
 * 153 septets or 67 code units per part. Carriers never split an escape sequence (GSM-7 extension
 * characters are ESC + char) or a UTF-16 surrogate pair across parts, so those go whole into the next.
 */

/** Single-segment capacity: 140 bytes * 8 / 7 = 160 septets; 140 / 2 = 70 UCS-2 code units. */
export const GSM7_SINGLE_SEGMENT_SEPTETS = 160;
export const UCS2_SINGLE_SEGMENT_UNITS = 70;
/** Concatenated parts lose a 6-byte header: (140 - 6) * 8 / 7 = 153.1 → 153 septets; (140 - 6) / 2 = 67 units. */
export const GSM7_MULTIPART_SEPTETS = 153;
export const UCS2_MULTIPART_UNITS = 67;

/** GSM 03.38 basic character set (ESC, 0x1B, is left out: it only introduces extension characters). */
const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
/** GSM 03.38 extension table: each costs two septets (ESC + the character). */
const GSM7_EXTENSION = '\f^{}\\[~]|€';

const basicSet = new Set(GSM7_BASIC);
const extensionSet = new Set(GSM7_EXTENSION);

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsSegmentCount {
  encoding: SmsEncoding;
  /** Parts the body is sent as; 0 for an empty body (which Twilio refuses anyway). */
  segments: number;
  /** Unicode code points in the body (what a person would call its length). */
  characters: number;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2) the body occupies. */
  units: number;
}

/** The encoding a carrier will use: GSM-7 when every character is in the basic or extension table. */
export function smsEncoding(body: string): SmsEncoding {
  for (const ch of body) {
    if (!basicSet.has(ch) && !extensionSet.has(ch)) return 'UCS-2';
  }
  return 'GSM-7';
}

/** Cost of each character in the chosen encoding's units, in order. */
function unitCosts(body: string, encoding: SmsEncoding): number[] {
  const costs: number[] = [];
  for (const ch of body) {
    if (encoding === 'GSM-7') costs.push(extensionSet.has(ch) ? 2 : 1);
    else costs.push(ch.length); // 1 UTF-16 unit, or 2 for a surrogate pair (e.g. most emoji)
  }
  return costs;
}

/** Fill parts greedily, moving a character that would straddle a boundary into the next part. */
function countParts(costs: number[], capacity: number): number {
  let parts = 1;
  let used = 0;
  for (const cost of costs) {
    if (used + cost > capacity) {
      parts += 1;
      used = 0;
    }
    used += cost;
  }
  return parts;
}

/**
 * Count the segments of an SMS body.
 *
 * @example smsSegments('A'.repeat(160)) // { encoding: 'GSM-7', segments: 1, characters: 160, units: 160 }
 */
export function smsSegments(body: string): SmsSegmentCount {
  const encoding = smsEncoding(body);
  const costs = unitCosts(body, encoding);
  const units = costs.reduce((sum, c) => sum + c, 0);
  const characters = costs.length;
  if (units === 0) return { encoding, segments: 0, characters, units };

  const [single, multipart] =
    encoding === 'GSM-7'
      ? [GSM7_SINGLE_SEGMENT_SEPTETS, GSM7_MULTIPART_SEPTETS]
      : [UCS2_SINGLE_SEGMENT_UNITS, UCS2_MULTIPART_UNITS];
  const segments = units <= single ? 1 : countParts(costs, multipart);
  return { encoding, segments, characters, units };
}
