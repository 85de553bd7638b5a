import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { classifyInboundText, START_KEYWORDS, STOP_KEYWORDS, HELP_KEYWORDS } from '../../lib/consent/revocation';

/**
 * What an inbound text means for consent. The tables are the decisions: every keyword in any case
 * and with punctuation revokes/restores/asks for help; sentences that ask to stop texting revoke (free
 * text, TCPA "any reasonable means"); short messages with "stop" revoke when in doubt; sentences where
 * "stop"/"cancel"/"quit" plainly mean something else do not.
 */

const keywordStops = [
  'STOP',
  'stop',
  ' Stop ',
  'STOP.',
  'stop!!!',
  'StOpAlL',
  'UNSUBSCRIBE',
  'cancel',
  'END',
  'Quit',
  'revoke',
  'OPTOUT',
  'opt out',
  'Opt-Out',
  'stop all',
  '¡ALTO!',
  'Basta',
  'cancelar',
];
const keywordStarts = ['START', 'start', 'Unstop', 'YES', 'yes.'];
const keywordHelps = ['HELP', 'help?', 'Info', ' INFO '];

const freeTextStops: [string, string][] = [
  ['stop texting me', 'stop-messaging'],
  ['Please stop sending these messages', 'stop-messaging'],
  ['can you stop texting this number', 'stop-messaging'],
  ['Quit messaging me!', 'stop-messaging'],
  ['no more texts', 'no-more-messages'],
  ['No more messages please', 'no-more-messages'],
  ["don't text me", 'do-not-message'],
  ['DONT TEXT ME AGAIN', 'do-not-message'],
  ['Do not message this number again', 'do-not-message'],
  ["Please don't send me any more texts", 'do-not-send-messages'],
  ["I don't want these texts", 'do-not-want-messages'],
  ['I no longer want to receive messages', 'do-not-want-messages'],
  ['remove me', 'remove-me'],
  ['Remove my number from your list', 'remove-me'],
  ['take me off your list', 'remove-me'],
  ['unsubscribe me', 'keyword-with-politeness'],
  ['stop please', 'keyword-with-politeness'],
  ['please stop', 'keyword-with-politeness'],
  ['STOP NOW', 'keyword-with-politeness'],
  ['omg stop it', 'keyword-with-politeness'],
  ['STOP STOP STOP', 'keyword-with-politeness'],
  ['cancel please', 'keyword-with-politeness'],
  ['Stop. Who is this?', 'short-message-with-stop-word'],
  ['ok stop now thanks', 'keyword-with-politeness'],
  ['Stop! I did not sign up for this and I want it to end today', 'leading-stop-sentence'],
  ['wrong number', 'wrong-number'],
  ['You have the wrong person', 'wrong-number'],
  ['leave me alone', 'leave-me-alone'],
  ['I revoke my consent', 'revoke-consent'],
  ['I withdraw my permission to be texted', 'revoke-consent'],
  ['please opt me out', 'unsubscribe'],
  ['No más mensajes por favor', 'spanish-revocation'],
  ['dejen de enviar mensajes', 'spanish-revocation'],
];

/** Sentences that mention a revocation word in another sense: a patient who wrote these still wants texts. */
const notRevocations = [
  "I can't stop worrying about my results, can you call me?",
  'can I cancel my appointment?',
  'Cancel my appointment please',
  'the bus stop near the clinic is closed',
  'I quit smoking last year',
  'Should I stop my meds?',
  'When can I stop taking the pills',
  'Can you take me off the medication?',
  "please don't stop texting me, it's helpful",
  'I will stop by tomorrow',
  'end of story',
  'thanks!',
  'what do my results mean?',
  'Is this about my blood test?',
  'yes please',
  'ok',
  '🙂',
  '',
];

describe('classifyInboundText: keywords', () => {
  for (const body of keywordStops) {
    it(`"${body}" is a STOP keyword`, () => {
      assert.deepEqual(classifyInboundText(body), { intent: 'stop', match: 'keyword', rule: 'keyword-stop' });
    });
  }
  for (const body of keywordStarts) {
    it(`"${body}" is a START keyword`, () => assert.equal(classifyInboundText(body).intent, 'start'));
  }
  for (const body of keywordHelps) {
    it(`"${body}" is a HELP keyword`, () => assert.equal(classifyInboundText(body).intent, 'help'));
  }
});

describe('classifyInboundText: free-text revocations', () => {
  for (const [body, rule] of freeTextStops) {
    it(`"${body}" revokes (${rule})`, () => {
      const c = classifyInboundText(body);
      assert.equal(c.intent, 'stop');
      assert.equal(c.match, 'free-text');
      assert.equal(c.rule, rule);
    });
  }
});

describe('classifyInboundText: not revocations', () => {
  for (const body of notRevocations) {
    it(`"${body}" is just a reply`, () => assert.equal(classifyInboundText(body).intent, 'text'));
  }
});

/** Random case for a word. */
const randomCase = (word: string) =>
  fc
    .array(fc.boolean(), { minLength: word.length, maxLength: word.length })
    .map((upper) => [...word].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch.toLowerCase())).join(''));
const padding = fc.constantFrom('', ' ', '  ', '\n', '\t', '.', '!', '!!', '?', '...', ' .', '"', '*');

describe('classifyInboundText: properties', () => {
  it('every keyword, in any case, padded with whitespace and punctuation, keeps its meaning', () => {
    const all = [
      ...STOP_KEYWORDS.map((k) => [k, 'stop'] as const),
      ...START_KEYWORDS.map((k) => [k, 'start'] as const),
      ...HELP_KEYWORDS.map((k) => [k, 'help'] as const),
    ];
    fc.assert(
      fc.property(
        fc
          .constantFrom(...all)
          .chain(([word, intent]) =>
            fc.tuple(padding, randomCase(word), padding).map(([a, w, b]) => ({ body: `${a}${w}${b}`, intent })),
          ),
        ({ body, intent }) => {
          const c = classifyInboundText(body);
          assert.equal(c.intent, intent);
          assert.equal(c.match, 'keyword');
        },
      ),
    );
  });

  it('a revocation phrase inside any longer message still revokes', () => {
    const phrases = [
      'stop texting me',
      'no more texts',
      "don't text me",
      'remove me from your list',
      'unsubscribe',
      'opt me out',
    ];
    const filler = fc.constantFrom(
      'hi',
      'hello',
      'this is',
      'the',
      'results',
      'thanks',
      'ok',
      'so',
      'well',
      'and',
      'please',
      'I think',
    );
    fc.assert(
      fc.property(
        fc.array(filler, { maxLength: 6 }),
        fc.constantFrom(...phrases).chain(randomCase),
        fc.array(filler, { maxLength: 6 }),
        padding,
        (before, phrase, after, end) => {
          const body = [...before, phrase, ...after].join(' ') + end;
          assert.equal(classifyInboundText(body).intent, 'stop', body);
        },
      ),
    );
  });

  it('messages made only of ordinary words never revoke', () => {
    const ordinary = fc.constantFrom(
      'what',
      'do',
      'my',
      'results',
      'mean',
      'can',
      'you',
      'call',
      'thanks',
      'is',
      'everything',
      'ok',
      'when',
      'should',
      'i',
      'come',
      'in',
      'doctor',
      'appointment',
      'tomorrow',
      'morning',
      'great',
      'got',
    );
    fc.assert(
      fc.property(fc.array(ordinary, { minLength: 1, maxLength: 12 }), padding, (words, end) => {
        const body = words.join(' ') + end;
        assert.notEqual(classifyInboundText(body).intent, 'stop', body);
      }),
    );
  });

  it('is total and deterministic on any text, and its rule never quotes the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (body) => {
        const a = classifyInboundText(body);
        const b = classifyInboundText(body);
        assert.deepEqual(a, b);
        assert.ok(['stop', 'start', 'help', 'text'].includes(a.intent));
        assert.match(a.rule, /^[a-z-]+$/);
      }),
    );
  });
});
