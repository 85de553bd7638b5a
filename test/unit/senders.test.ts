import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseHl7ForPractice } from '../../api/ingest/hl7-ingest';
import { identifyMllpSender } from '../../api/mllp/sender-identity';
import { loadPracticeRegistry, parsePracticeRegistry } from '../../lib/practices';
import { isLoopbackAddress, loadSenderRegistry, parseSenderRegistry, type Sender } from '../../lib/senders';

/**
 * The sender registry (lib/senders.ts): what it refuses at start, how a connection or request finds
 * its sender, and that "arrives signed" needs an authenticated reviewed sender and a provider of
 * the practice as the signer. MSH-4 alone never signs.
 */

const FINGERPRINT_A = Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':');

function registry(senders: unknown[]) {
  return parseSenderRegistry({ senders });
}

const base = { practices: ['195900'], operations: ['ingest'] };

void describe('sender registry: configuration', () => {
  void it('refuses a sender without a credential, a bad fingerprint, a bad source, and shared credentials', () => {
    assert.throws(() => registry([{ id: 'nobody', ...base }]), /names no credential/);
    assert.throws(
      () => registry([{ id: 'lab', mllp: { certificateSha256: ['AB:CD'] }, ...base }]),
      /must be a SHA-256 fingerprint/,
    );
    assert.throws(
      () => registry([{ id: 'lab', mllp: { plaintextSources: ['10.0.0.0/33'] }, ...base }]),
      /plaintextSources.*loopback/,
    );
    assert.throws(
      () =>
        registry([
          { id: 'a', token: 'engine', ...base },
          { id: 'b', token: 'engine', ...base },
        ]),
      /senders a and b share the token engine/,
    );
    assert.throws(
      () => registry([{ id: 'a', token: 't', practices: ['195900'], operations: ['delete'] }]),
      /operations/,
    );
  });

  void it('is checked against the practices and the configured tokens at start, naming each problem', () => {
    const practices = loadPracticeRegistry('config/practices.sandbox.json');
    const senders = registry([
      { id: 'a', token: 'engine', practices: ['195900'], hl7Facilities: ['NOWHERE'], operations: ['ingest'] },
      { id: 'b', token: 'other', practices: ['999'], operations: ['status'] },
    ]);
    assert.throws(
      () => senders.checkAgainst(practices, ['engine', 'other', 'stray']),
      (err: Error) =>
        /sender a: hl7Facilities NOWHERE is not an HL7 facility of its practices/.test(err.message) &&
        /sender b: no practice 999/.test(err.message) &&
        /LABLOOP_API_TOKENS: token stray is named by no sender/.test(err.message),
    );
  });

  void it('the sandbox registry agrees with the sandbox practices and npm start’s tokens', () => {
    const senders = loadSenderRegistry('config/senders.sandbox.json');
    senders.checkAgainst(loadPracticeRegistry('config/practices.sandbox.json'), ['sandbox', 'sandbox-athena-oru']);
    assert.equal(senders.byTokenName('sandbox')?.arrivesSigned, false);
    assert.equal(senders.byTokenName('sandbox-athena-oru')?.arrivesSigned, true);
    assert.equal(senders.athenaWebhookSender()?.id, 'athena');
  });
});

void describe('sender registry: who a connection is', () => {
  const senders = registry([
    { id: 'by-fingerprint', mllp: { certificateSha256: [FINGERPRINT_A.toLowerCase()] }, ...base },
    { id: 'by-subject', mllp: { certificateSubject: ['CN=lab-b,O=Lab B'] }, ...base },
    { id: 'listed', mllp: { plaintextSources: ['192.0.2.10', '198.51.100.0/24'] }, ...base },
    { id: 'local', mllp: { plaintextSources: ['loopback'] }, ...base },
  ]);

  void it('a certificate by fingerprint, else by every attribute of its subject', () => {
    const cert = (fingerprint256: string, subject: Record<string, string>) =>
      identifyMllpSender(senders, { remoteAddress: '192.0.2.10', certificate: { fingerprint256, subject } });
    assert.equal(cert(FINGERPRINT_A, { CN: 'anything' })?.sender.id, 'by-fingerprint');
    assert.equal(cert(FINGERPRINT_A, { CN: 'anything' })?.channel, 'mllp-certificate');
    const other = FINGERPRINT_A.replace(/^10/, '11');
    assert.equal(cert(other, { CN: 'lab-b', O: 'Lab B' })?.sender.id, 'by-subject');
    assert.equal(cert(other, { CN: 'lab-b' }), undefined, 'a partial subject is not the sender');
    // A certificate is the identity under TLS: the source address it connects from does not help.
    assert.equal(cert(other, { CN: 'someone-else' }), undefined);
  });

  void it('plaintext: only loopback or a listed source, and only for the sender that lists it', () => {
    const from = (remoteAddress: string) => identifyMllpSender(senders, { remoteAddress });
    assert.equal(from('192.0.2.10')?.sender.id, 'listed');
    assert.equal(from('::ffff:198.51.100.77')?.sender.id, 'listed');
    assert.equal(from('192.0.2.10')?.channel, 'mllp-plaintext-source');
    assert.equal(from('192.0.2.11'), undefined, 'a non-loopback source nobody listed is refused');
    assert.equal(from('203.0.113.5'), undefined);
    assert.equal(from('127.0.0.1')?.sender.id, 'local');
    assert.equal(from('::1')?.sender.id, 'local');
    assert.equal(from('::ffff:127.0.0.2')?.sender.id, 'local');

    const noLoopback = registry([{ id: 'listed', mllp: { plaintextSources: ['192.0.2.10'] }, ...base }]);
    assert.equal(identifyMllpSender(noLoopback, { remoteAddress: '127.0.0.1' }), undefined);
    assert.equal(isLoopbackAddress('10.127.0.1'), false);
  });
});

void describe('HL7 "arrives signed" is the authenticated sender’s, never MSH-4’s', () => {
  const sandbox = JSON.parse(readFileSync(path.resolve(__dirname, '../../config/practices.sandbox.json'), 'utf8')) as {
    practices: { policy: Record<string, unknown> }[];
  };
  const practices = parsePracticeRegistry({
    practices: [
      {
        policy: sandbox.practices[0]?.policy,
        routing: { hl7SendingFacilities: ['RIVERSIDE'], hl7ReviewedFacilities: ['RIVERSIDE-ATHENA'] },
      },
    ],
  });
  const sender = (overrides: Partial<Sender>): Sender => ({
    id: 'x',
    athenaWebhook: false,
    hl7DropDirectory: false,
    practices: ['195900'],
    hl7Facilities: ['RIVERSIDE', 'RIVERSIDE-ATHENA'],
    operations: ['ingest'],
    arrivesSigned: false,
    token: 'x',
    ...overrides,
  });
  // OBR-16 names the ordering provider by NPI: 1234567890 is prov-1, a provider of the practice.
  const oru = (facility: string, orderingNpi = '1234567890') =>
    [
      `MSH|^~\\&|ATHENANET|${facility}|LABLOOP|RIVERSIDE|20261124093000-0500||ORU^R01^ORU_R01|SIGN-1|P|2.5.1`,
      'PID|1||MRN-1^^^RIVERSIDE^MR||Doe^Jane',
      `OBR|1|PLC-1|ACC-1|2951-2^Sodium^LN|||20261124081500|||||||||${orderingNpi}^Chen^Avery||||||20261124092900-0500|||F`,
      'OBX|1|NM|2951-2^Sodium^LN||140|mmol/L|135-145|N|||F',
    ].join('\r');
  const signedBy = (text: string, from?: Sender) => {
    const parsed = parseHl7ForPractice(text, practices, from === undefined ? {} : { sender: from });
    if (!parsed.ok) assert.fail(parsed.error.message);
    return parsed.results[0]?.signedOff?.providerId;
  };

  void it('a reviewed sender’s reviewed feed, signed by a provider of the practice, arrives signed', () => {
    assert.equal(signedBy(oru('RIVERSIDE-ATHENA'), sender({ arrivesSigned: true })), 'prov-1');
  });

  void it('a reviewed-facility claim from a sender not configured as reviewed arrives unsigned', () => {
    assert.equal(signedBy(oru('RIVERSIDE-ATHENA'), sender({ arrivesSigned: false })), undefined);
    assert.equal(signedBy(oru('RIVERSIDE-ATHENA')), undefined, 'no authenticated sender: nothing signs');
  });

  void it('a reviewed sender’s other facilities, and signers who are not the practice’s providers, stay unsigned', () => {
    assert.equal(signedBy(oru('RIVERSIDE'), sender({ arrivesSigned: true })), undefined, 'not a reviewed feed');
    // An NPI nobody at the practice has, and a reviewed sender that may not send as the facility.
    assert.equal(signedBy(oru('RIVERSIDE-ATHENA', '9999999999'), sender({ arrivesSigned: true })), undefined);
    assert.equal(
      signedBy(oru('RIVERSIDE-ATHENA'), sender({ arrivesSigned: true, hl7Facilities: ['RIVERSIDE'] })),
      undefined,
    );
  });

  void it('a staff member who is not a provider never signs', () => {
    // staff-1 (Morgan Lee, MA) is on the staff list with role staff.
    assert.equal(signedBy(oru('RIVERSIDE-ATHENA', 'staff-1'), sender({ arrivesSigned: true })), undefined);
    assert.equal(signedBy(oru('RIVERSIDE-ATHENA', 'prov-2'), sender({ arrivesSigned: true })), 'prov-2');
  });
});
