/**
 * HL7 sends the patient's language (PID-15, CE) as whatever the source system uses: ISO 639-1
 * (`en`), ISO 639-2 (`ENG`, `SPA`) or a name (`^Spanish`). We need a BCP-47 tag for message
 * templates, so the common forms are mapped; anything else that already looks like a tag is kept.
 */

/** ISO 639-2 (bibliographic and terminology) codes of the languages most spoken in US clinics. */
const ISO_639_2: Readonly<Record<string, string>> = {
  eng: 'en',
  spa: 'es',
  zho: 'zh',
  chi: 'zh',
  vie: 'vi',
  tgl: 'tl',
  kor: 'ko',
  rus: 'ru',
  ara: 'ar',
  fra: 'fr',
  fre: 'fr',
  por: 'pt',
  hat: 'ht',
  deu: 'de',
  ger: 'de',
  ita: 'it',
  jpn: 'ja',
  pol: 'pl',
  fas: 'fa',
  per: 'fa',
  hin: 'hi',
  urd: 'ur',
  ben: 'bn',
  pan: 'pa',
  guj: 'gu',
  hmn: 'hmn',
  som: 'so',
  amh: 'am',
  ukr: 'uk',
  yid: 'yi',
};

const LANGUAGE_NAMES: Readonly<Record<string, string>> = {
  english: 'en',
  spanish: 'es',
  chinese: 'zh',
  mandarin: 'zh',
  cantonese: 'zh',
  vietnamese: 'vi',
  tagalog: 'tl',
  korean: 'ko',
  russian: 'ru',
  arabic: 'ar',
  french: 'fr',
  portuguese: 'pt',
  'haitian creole': 'ht',
  german: 'de',
  italian: 'it',
  japanese: 'ja',
  polish: 'pl',
  persian: 'fa',
  farsi: 'fa',
  hindi: 'hi',
  urdu: 'ur',
  somali: 'so',
  ukrainian: 'uk',
};

const BCP47_LIKE = /^[a-z]{2,3}(-[a-z0-9]{2,8})*$/i;

/** `code` and `text` of a CE/CWE language field to a BCP-47 tag, or `undefined` if unrecognised. */
export function languageTag(code: string, text: string): string | undefined {
  const lowerCode = code.trim().toLowerCase();
  const fromIso2 = ISO_639_2[lowerCode];
  if (fromIso2 !== undefined) return fromIso2;
  if (/^[a-z]{2}(-[a-z0-9]{2,8})*$/.test(lowerCode)) {
    // Keep regional subtags (es-MX) in their conventional case.
    const [language, ...rest] = code.trim().split('-');
    return [language?.toLowerCase(), ...rest.map((r) => (r.length === 2 ? r.toUpperCase() : r))].join('-');
  }
  const fromName = LANGUAGE_NAMES[text.trim().toLowerCase()] ?? LANGUAGE_NAMES[lowerCode];
  if (fromName !== undefined) return fromName;
  return BCP47_LIKE.test(lowerCode) ? lowerCode : undefined;
}
