/**
 * What an inbound patient text means for SMS consent.
 *
 * Two layers, in this order:
 *  1. Keywords: the whole body (trimmed, any case, surrounding punctuation ignored) is one of the
 *     carrier keywords. This is what Twilio itself acts on (STOP blocks further sends with 21610).
 *  2. Free text: since FCC 24-18 (in force 2025-04-11) consent may be revoked "by any reasonable
 *     means", so a sentence like "stop texting me" or "no more texts" revokes too, although no
 *     carrier acts on it. We act on it ourselves and audit it as free text.
 *
 * The free-text rules lean towards revoking: a wrong revocation costs one call or portal note, a
 * missed one is a TCPA violation and a patient who keeps being texted. They still leave alone the
 * sentences where a revocation word plainly means something else ("I can't stop worrying, can you
 * call me?", "can I cancel my appointment?", "the bus stop"), because treating every mention of
 * "stop" as an opt-out would silently cut patients off from the channel they chose. The decisions
 * are spelled out and tested with many examples in test/unit/consent-revocation.test.ts.
 *
 * Pure: no I/O, deterministic; the body is never logged or stored, only the rule that matched.
 */

export type InboundIntent = 'stop' | 'start' | 'help' | 'text';

export interface InboundClassification {
  intent: InboundIntent;
  /** `keyword` when the whole body is a carrier keyword, `free-text` when a sentence rule matched. */
  match: 'keyword' | 'free-text' | 'none';
  /** Which rule matched (safe to audit: it names the rule, it does not quote the patient). */
  rule: string;
}

/** Carrier opt-out keywords (Twilio's default list, plus REVOKE and OPTOUT from the newer docs). */
export const STOP_KEYWORDS = ['stop', 'stopall', 'unsubscribe', 'cancel', 'end', 'quit', 'revoke', 'optout'] as const;
/** Opt-in keywords that restore consent. */
export const START_KEYWORDS = ['start', 'unstop', 'yes'] as const;
export const HELP_KEYWORDS = ['help', 'info'] as const;

/** Multi-word spellings of the keywords that people type ("opt out", "stop all"). */
const STOP_KEYWORD_PHRASES = ['opt out', 'stop all', 'un subscribe'];
/** Spanish opt-out words carriers and Twilio's Advanced Opt-Out commonly recognise. */
const SPANISH_STOP_KEYWORDS = ['alto', 'parar', 'para', 'basta', 'cancelar', 'detener', 'baja'];

/** Words that only soften a keyword: "stop please", "STOP NOW!!", "cancel thanks". */
const POLITENESS = new Set([
  'please',
  'pls',
  'plz',
  'now',
  'thanks',
  'thank',
  'you',
  'thx',
  'ty',
  'it',
  'all',
  'ok',
  'okay',
  'just',
  'asap',
  'immediately',
  'already',
  'me',
  'this',
  'that',
  'these',
  'them',
  'sir',
  'maam',
  'por',
  'favor',
  'gracias',
  'omg',
  'god',
  'seriously',
]);

/**
 * Words that, right after a stop word, show that texting is what is to stop ("stop texting",
 * "stop the messages", "quit sending").
 */
const MESSAGING_WORDS =
  '(?:text(?:s|ing|ed)?|txt(?:s|ing)?|messag(?:e|es|ing)|msgs?|sms|send(?:ing)?|contact(?:ing)?|notif(?:y|ying|ications?)|alerts?|reminders?|spam(?:ming)?|bother(?:ing)?|call(?:ing|s)?)';

interface Rule {
  id: string;
  pattern: RegExp;
}

/**
 * Sentence rules for a revocation anywhere in the message. Matched against the normalised text
 * (lower case, apostrophes removed, punctuation turned into spaces, single spaces).
 */
const REVOCATION_RULES: Rule[] = [
  // "stop texting me", "please stop sending these", "quit messaging", "cease contact"
  {
    id: 'stop-messaging',
    pattern: new RegExp(
      `\\b(?:stop|quit|cease|end|halt|discontinue)\\s+(?:the\\s+|your\\s+|all\\s+|these\\s+|any\\s+)?${MESSAGING_WORDS}\\b`,
    ),
  },
  // "no more texts", "no more messages please"
  { id: 'no-more-messages', pattern: new RegExp(`\\bno\\s+(?:more\\s+|further\\s+)?${MESSAGING_WORDS}\\b`) },
  // "don't text me", "do not message this number", "never contact me again"
  { id: 'do-not-message', pattern: /\b(?:dont|do\s+not|never)\s+(?:ever\s+)?(?:text|txt|message|msg|sms|contact)\b/ },
  // "don't send me any more texts", "never send messages to this number"
  {
    id: 'do-not-send-messages',
    pattern:
      /\b(?:dont|do\s+not|never)\s+(?:ever\s+)?send\s+(?:me\s+)?(?:any\s+)?(?:more\s+)?(?:texts?|txts?|messages?|msgs?|sms)\b/,
  },
  // "I don't want these texts", "I do not want any more messages"
  {
    id: 'do-not-want-messages',
    pattern: new RegExp(
      `\\b(?:dont|do\\s+not|no\\s+longer)\\s+(?:want|wish\\s+to\\s+(?:get|receive)|need)\\s+(?:any\\s+(?:more\\s+)?|these\\s+|your\\s+|the\\s+|to\\s+(?:get|receive)\\s+)?(?:more\\s+)?${MESSAGING_WORDS}\\b`,
    ),
  },
  // "remove me", "remove my number", "delete my number", "take me off your list"
  {
    id: 'remove-me',
    pattern:
      /\b(?:remove|delete|erase)\s+(?:me|my\s+(?:number|phone|cell|info))\b|\btake\s+(?:me|my\s+number)\s+off\s+(?:of\s+)?(?:your|the|this|ur)?\s*(?:list|texts?|messages?|contacts?|system)\b/,
  },
  // "unsubscribe me", "unsubscribe", "opt me out", "opt-out", "optout"
  { id: 'unsubscribe', pattern: /\b(?:unsubscribe|unsub|opt\s+me\s+out|opt\s+out|optout|stopall)\b/ },
  // "revoke my consent", "I withdraw consent", "I revoke"
  {
    id: 'revoke-consent',
    pattern:
      /\b(?:revoke|withdraw|rescind|cancel)\s+(?:my\s+)?(?:consent|permission|subscription|authori[sz]ation)\b|\brevoke\b/,
  },
  // "leave me alone"
  { id: 'leave-me-alone', pattern: /\bleave\s+me\s+alone\b/ },
  // "wrong number", "you have the wrong person": the texts are not reaching the patient, so stop.
  {
    id: 'wrong-number',
    pattern: /\bwrong\s+(?:number|person|phone|cell|patient)\b|\bnot\s+(?:the\s+)?right\s+(?:number|person)\b/,
  },
  // "no mas mensajes", "no me envie mensajes", "dejen de enviar"
  {
    id: 'spanish-revocation',
    pattern:
      /\bno\s+mas\s+(?:mensajes|textos|sms)\b|\bno\s+me\s+(?:envie|envien|manden|escriban)\b|\bdej(?:e|en|a)\s+de\s+(?:enviar|mandar|escribir)\b/,
  },
];

/**
 * A stop word anywhere in a short message is a revocation unless the message is plainly about
 * something else. "Short" is at most this many words: "please stop", "omg stop it", "STOP STOP STOP",
 * "Stop. Now." are all revocations; a long sentence needs one of the explicit rules above.
 */
export const SHORT_MESSAGE_MAX_WORDS = 5;

/** Words that can mean "stop" only when nothing in the message gives them another object. */
const SHORT_STOP_WORDS = new Set(['stop', 'stopall', 'unsubscribe', 'optout', 'revoke', 'alto', 'basta', 'parar']);
// "cancel", "end" and "quit" are too common in other senses ("cancel my appointment", "I quit
// smoking") to count outside the keyword form or an explicit rule.

/**
 * In a short message, these after a stop word mean it is about something else: "stop by tomorrow",
 * "cancel my appointment", "stop my medication?". Conservative: only clearly unrelated objects.
 */
const UNRELATED_OBJECT =
  /\bstop\s+(?:by|in|at|over|taking|smoking|drinking|eating|bleeding|hurting|working|(?:my|the|this|that)\s+(?:med|meds|medication|medicine|pills?|prescription|appointment|treatment|dose|pain|bleeding))\b|\bbus\s+stop\b|\bcant\s+stop\b|\bdont\s+stop\b|\bnon\s*stop\b|\bwhen\s+(?:can|should|do)\s+i\s+stop\b|\bshould\s+i\s+stop\b/;

function normalise(body: string): string {
  return body
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // accents: "más" → "mas"
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc'`´]/g, '') // apostrophes vanish: "don't" → "dont"
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

function keywordOf(normalised: string): InboundIntent | undefined {
  const compact = normalised.replace(/ /g, '');
  if ((STOP_KEYWORDS as readonly string[]).includes(compact)) return 'stop';
  if (STOP_KEYWORD_PHRASES.includes(normalised)) return 'stop';
  if (SPANISH_STOP_KEYWORDS.includes(compact)) return 'stop';
  if ((START_KEYWORDS as readonly string[]).includes(compact)) return 'start';
  if ((HELP_KEYWORDS as readonly string[]).includes(compact)) return 'help';
  return undefined;
}

/** Classify one inbound message body. Total: any string (empty, emoji, 1600 characters) has an answer. */
export function classifyInboundText(body: string): InboundClassification {
  const text = normalise(body);
  if (text === '') return { intent: 'text', match: 'none', rule: 'empty' };

  const keyword = keywordOf(text);
  if (keyword !== undefined) return { intent: keyword, match: 'keyword', rule: `keyword-${keyword}` };

  const words = text.split(' ');
  // A keyword softened by politeness words ("stop please", "cancel now thanks", "please STOP!!!").
  const meaningful = words.filter((w) => !POLITENESS.has(w));
  if (meaningful.length > 0 && meaningful.every((w) => keywordOf(w) === 'stop')) {
    return { intent: 'stop', match: 'free-text', rule: 'keyword-with-politeness' };
  }

  for (const rule of REVOCATION_RULES) {
    if (rule.pattern.test(text) && !negatedRevocation(text)) {
      return { intent: 'stop', match: 'free-text', rule: rule.id };
    }
  }

  if (
    words.length <= SHORT_MESSAGE_MAX_WORDS &&
    words.some((w) => SHORT_STOP_WORDS.has(w)) &&
    !UNRELATED_OBJECT.test(text)
  ) {
    return { intent: 'stop', match: 'free-text', rule: 'short-message-with-stop-word' };
  }

  // "Stop. I don't want this" / "STOP!!! who is this": a stop word opening a sentence on its own.
  if (/^(?:stop|unsubscribe|quit)\b/.test(text) && /^\s*(?:stop|unsubscribe|quit)\s*[.!,;:\n]/i.test(body.trim())) {
    return { intent: 'stop', match: 'free-text', rule: 'leading-stop-sentence' };
  }

  return { intent: 'text', match: 'none', rule: 'no-revocation' };
}

/**
 * "Please don't stop texting me" asks for more texts, not fewer. Only this explicit form is taken
 * as a negation; anything vaguer stays a revocation.
 */
function negatedRevocation(text: string): boolean {
  return /\b(?:dont|do\s+not|never|please\s+dont)\s+(?:ever\s+)?stop\s+(?:texting|messaging|sending|contacting)\b/.test(
    text,
  );
}
