import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import type { PracticeRegistry } from './practices';
import { PROJECT_ROOT } from './tools';

/**
 * The sender registry: who may put results into labloop, for which practices and HL7 facilities,
 * and what else each may do. Trust comes from the authenticated channel (a bearer token, an MLLP
 * client certificate, a plaintext source address the operator listed, athena's webhook secret),
 * never from what a message says about itself: MSH-4 selects a practice only among those the
 * authenticated sender may send for, and never signs anything. docs/security.md ("Senders") is the
 * operator's view.
 *
 * The registry names credentials, it never holds them: a token is named by the name it has in
 * LABLOOP_API_TOKENS (`name:token`), a certificate by its SHA-256 fingerprint or subject (the CA in
 * MLLP_TLS_CLIENT_CA_FILE issues it), athena by ATHENA_WEBHOOK_SECRET.
 */

export const SENDER_OPERATIONS = ['ingest', 'status', 'consent', 'audit-export'] as const;
export type SenderOperation = (typeof SENDER_OPERATIONS)[number];

/** How a request or connection proved which sender it is (stored with what it sent). */
export type SenderChannel =
  'bearer-token' | 'mllp-certificate' | 'mllp-plaintext-source' | 'athena-webhook' | 'hl7-drop-directory';

const FINGERPRINT = /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/;
/** Loopback addresses, IPv4 and IPv6 (and IPv4-mapped IPv6 as Node reports it on a dual-stack socket). */
export const LOOPBACK_SOURCE = 'loopback';

const SourceEntry = z.string().refine((s) => s === LOOPBACK_SOURCE || parseCidr(s) !== undefined, {
  message: `must be "${LOOPBACK_SOURCE}", an IP address or a CIDR such as 10.20.0.0/24`,
});

const SenderSchema = z
  .object({
    /** Stable name, stored with every message the sender sends and in the audit rows it causes. */
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be lower-case letters, digits, . _ - (1-64)'),
    /** The name of its bearer token in LABLOOP_API_TOKENS (`name:token`; the token itself stays there). */
    token: z.string().min(1).max(64).optional(),
    mllp: z
      .object({
        /** SHA-256 fingerprints (`AB:CD:…`, as `openssl x509 -fingerprint -sha256` prints) of its client certificates. */
        certificateSha256: z
          .array(
            z
              .string()
              .transform((s) => s.trim().toUpperCase())
              .refine((s) => FINGERPRINT.test(s), 'must be a SHA-256 fingerprint: 32 hex bytes separated by colons'),
          )
          .default([]),
        /**
         * Certificate subjects (`CN=riverside-lis,O=Riverside Lab`): every attribute given must match.
         * Safe only because the client CA is labloop's own (MLLP_TLS_CLIENT_CA_FILE).
         */
        certificateSubject: z
          .array(z.string().refine((s) => parseSubject(s) !== undefined, 'must be attribute=value pairs, e.g. CN=name'))
          .default([]),
        /**
         * Plaintext MLLP only (MLLP_PLAINTEXT): the source addresses this sender connects from, the
         * operator's explicit allow-list. `loopback` for an engine (or a TLS terminator) on this host.
         */
        plaintextSources: z.array(SourceEntry).default([]),
      })
      .optional(),
    /** athena, authenticated by ATHENA_WEBHOOK_SECRET on its Event Subscription webhooks. */
    athenaWebhook: z.boolean().default(false),
    /** The files of LABLOOP_HL7_DROP_DIR are this sender's (whoever may write that directory on this host). */
    hl7DropDirectory: z.boolean().default(false),
    /** labloop practice IDs it may send for. */
    practices: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)).min(1),
    /** HL7 sending facilities (MSH-4) it may send as; each must route to one of its practices. */
    hl7Facilities: z.array(z.string().min(1)).default([]),
    operations: z.array(z.enum(SENDER_OPERATIONS)).min(1),
    /**
     * Its HL7 results arrive signed (athena's outbound ORU, which sends a result only after a provider
     * reviewed it), for facilities the practice lists in `hl7ReviewedFacilities`, when the signer it
     * names is a provider of the practice. Nobody else's results arrive signed.
     */
    arrivesSigned: z.boolean().default(false),
  })
  .refine((s) => s.token !== undefined || s.mllp !== undefined || s.athenaWebhook || s.hl7DropDirectory, {
    message: 'names no credential: give it a token, an mllp identity, athenaWebhook or hl7DropDirectory',
  });

const RegistrySchema = z.object({ senders: z.array(SenderSchema).min(1) });

export type Sender = z.infer<typeof SenderSchema>;

/** A sender as one request or connection authenticated it. */
export interface AuthenticatedSender {
  sender: Sender;
  channel: SenderChannel;
}

export class SenderRegistry {
  private readonly byId = new Map<string, Sender>();
  private readonly byToken = new Map<string, Sender>();
  private readonly byFingerprint = new Map<string, Sender>();
  private readonly bySubject: { subject: Record<string, string>; sender: Sender }[] = [];
  private readonly plaintext: { sender: Sender; loopback: boolean; list: BlockList }[] = [];
  private athena: Sender | undefined;
  private drop: Sender | undefined;

  constructor(senders: readonly Sender[]) {
    for (const sender of senders) {
      const claim = (map: Map<string, Sender>, key: string, what: string) => {
        const other = map.get(key);
        if (other !== undefined) throw new Error(`senders ${other.id} and ${sender.id} share ${what}`);
        map.set(key, sender);
      };
      claim(this.byId, sender.id, 'an id');
      if (sender.token !== undefined) claim(this.byToken, sender.token, `the token ${sender.token}`);
      for (const fingerprint of sender.mllp?.certificateSha256 ?? []) {
        claim(this.byFingerprint, fingerprint, `the certificate ${fingerprint}`);
      }
      for (const subject of sender.mllp?.certificateSubject ?? []) {
        const parsed = parseSubject(subject) ?? {};
        const other = this.bySubject.find((s) => sameSubject(s.subject, parsed));
        if (other !== undefined)
          throw new Error(`senders ${other.sender.id} and ${sender.id} share the subject ${subject}`);
        this.bySubject.push({ subject: parsed, sender });
      }
      const sources = sender.mllp?.plaintextSources ?? [];
      if (sources.length > 0) {
        const list = new BlockList();
        for (const source of sources.filter((s) => s !== LOOPBACK_SOURCE)) {
          const cidr = parseCidr(source);
          if (cidr !== undefined) list.addSubnet(cidr.address, cidr.prefix, cidr.family);
        }
        this.plaintext.push({ sender, loopback: sources.includes(LOOPBACK_SOURCE), list });
      }
      if (sender.hl7DropDirectory) {
        if (this.drop !== undefined)
          throw new Error(`senders ${this.drop.id} and ${sender.id} both claim hl7DropDirectory`);
        this.drop = sender;
      }
      if (sender.athenaWebhook) {
        if (this.athena !== undefined)
          throw new Error(`senders ${this.athena.id} and ${sender.id} both claim athenaWebhook`);
        this.athena = sender;
      }
    }
  }

  all(): Sender[] {
    return [...this.byId.values()];
  }

  get(id: string): Sender | undefined {
    return this.byId.get(id);
  }

  /** The sender whose bearer token has this name in LABLOOP_API_TOKENS. */
  byTokenName(name: string): Sender | undefined {
    return this.byToken.get(name);
  }

  /** The sender of a verified client certificate: by fingerprint first, then by subject. */
  byCertificate(certificate: {
    fingerprint256: string;
    subject: Record<string, string | string[]>;
  }): Sender | undefined {
    const byFingerprint = this.byFingerprint.get(certificate.fingerprint256.toUpperCase());
    if (byFingerprint !== undefined) return byFingerprint;
    return this.bySubject.find((s) => subjectMatches(s.subject, certificate.subject))?.sender;
  }

  /** The sender a plaintext MLLP connection from `address` belongs to, if the operator listed it. */
  byPlaintextSource(address: string): Sender | undefined {
    const normalised = normaliseAddress(address);
    const family = isIP(normalised) === 6 ? 'ipv6' : 'ipv4';
    return this.plaintext.find((p) => (p.loopback && isLoopbackAddress(normalised)) || p.list.check(normalised, family))
      ?.sender;
  }

  /** The sender LABLOOP_HL7_DROP_DIR's files are from, if one is configured. */
  dropDirectorySender(): Sender | undefined {
    return this.drop;
  }

  /** The sender ATHENA_WEBHOOK_SECRET authenticates, if athena is configured as one. */
  athenaWebhookSender(): Sender | undefined {
    return this.athena;
  }

  /**
   * Every place the registry must agree with the practice registry and the configured tokens:
   * practices exist, each facility routes to one of the sender's practices, and every token in
   * LABLOOP_API_TOKENS has a sender (a token without scopes would be refused at every request).
   */
  checkAgainst(practices: PracticeRegistry, tokenNames: Iterable<string>): void {
    const problems: string[] = [];
    for (const sender of this.byId.values()) {
      for (const practiceId of sender.practices) {
        if (practices.policy(practiceId) === undefined) problems.push(`sender ${sender.id}: no practice ${practiceId}`);
      }
      for (const facility of sender.hl7Facilities) {
        const practice = practices.byHl7Facility(facility);
        if (practice === undefined || !sender.practices.includes(practice.practiceId)) {
          problems.push(
            `sender ${sender.id}: hl7Facilities ${facility} is not an HL7 facility of its practices (${sender.practices.join(', ')})`,
          );
        }
      }
    }
    for (const name of tokenNames) {
      if (!this.byToken.has(name)) problems.push(`LABLOOP_API_TOKENS: token ${name} is named by no sender`);
    }
    if (problems.length > 0) throw new Error(`sender registry: ${problems.join('; ')}`);
  }
}

/** Whether the sender may perform `operation` for `practiceId`. */
export function senderMay(sender: Sender, operation: SenderOperation, practiceId: string): boolean {
  return sender.operations.includes(operation) && sender.practices.includes(practiceId);
}

/** Whether the sender may send HL7 as `facility` (MSH-4), case-insensitively. */
export function senderHasFacility(sender: Sender, facility: string): boolean {
  const wanted = facility.toUpperCase();
  return sender.hl7Facilities.some((f) => f.toUpperCase() === wanted);
}

export function parseSenderRegistry(json: unknown, source = 'sender registry'): SenderRegistry {
  const parsed = RegistrySchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`${source} is invalid: ${problems}`);
  }
  return new SenderRegistry(parsed.data.senders);
}

export function loadSenderRegistry(file: string): SenderRegistry {
  const full = path.isAbsolute(file) ? file : path.join(PROJECT_ROOT, file);
  return parseSenderRegistry(JSON.parse(readFileSync(full, 'utf8')) as unknown, full);
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) as `10.0.0.1`; anything else as given. */
export function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

export function isLoopbackAddress(address: string): boolean {
  const a = normaliseAddress(address);
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

function parseCidr(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText, ...rest] = entry.trim().split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > max ||
    (prefixText !== undefined && !/^\d+$/.test(prefixText))
  )
    return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

function parseSubject(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) return undefined;
    const key = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    if (key === '' || value === '') return undefined;
    out[key] = value;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function sameSubject(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** Every attribute the registry names must be present once with exactly that value. */
function subjectMatches(wanted: Record<string, string>, actual: Record<string, string | string[]>): boolean {
  return Object.entries(wanted).every(([key, value]) => actual[key] === value);
}
