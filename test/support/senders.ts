import type { PracticeRegistry } from '../../lib/practices';
import { parseSenderRegistry, type Sender, type SenderRegistry } from '../../lib/senders';

/** The id the test registry gives the sender of a token name (ids are lower-case). */
export function testSenderId(tokenName: string): string {
  return tokenName.toLowerCase().replace(/[^a-z0-9._-]/g, '-');
}

/**
 * A sender registry for tests that are not about scopes: every token name is a sender for every
 * practice and every HL7 facility of the registry, with every operation but the audit export (a
 * privileged operation, given only where a test is about it), and nothing arrives signed
 * (a test about signing configures its own). athena's webhook secret is a sender for every practice,
 * plaintext MLLP from loopback is the sender `test-mllp-loopback`, and the HL7 drop directory's files
 * are `test-hl7-drop`'s. `extra` adds senders.
 */
export function testSenders(
  practices: PracticeRegistry,
  tokenNames: Iterable<string>,
  extra: readonly Partial<Sender>[] = [],
): SenderRegistry {
  const practiceIds = practices.all().map((p) => p.policy.practiceId);
  const hl7Facilities = practices
    .all()
    .flatMap((p) => [...p.routing.hl7SendingFacilities, ...p.routing.hl7ReviewedFacilities]);
  const everything = { practices: practiceIds, hl7Facilities, operations: ['ingest', 'status', 'consent'] };
  return parseSenderRegistry({
    senders: [
      ...[...new Set(tokenNames)].map((token) => ({ id: testSenderId(token), token, ...everything })),
      { id: 'test-athena', athenaWebhook: true, practices: practiceIds, operations: ['ingest'] },
      { id: 'test-mllp-loopback', mllp: { plaintextSources: ['loopback'] }, ...everything },
      { id: 'test-hl7-drop', hl7DropDirectory: true, ...everything },
      ...extra,
    ],
  });
}
