import type { KeyObject } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { canonicalJson } from './canonical-json';
import type { AnchorStore } from './anchor-store';
import { chainHead } from './anchor';
import { verifySignature, type AnchorSigner } from './signing';

/**
 * Signed anchors, kept outside the database (issue 12 §3). Each one states, signed with an Ed25519
 * key the database never sees, the row_hash of every row in a seq range (after_seq, seq]: the chain
 * as it was when it was published. Whoever owns the database can rewrite rows, recompute every hash
 * and insert matching rows into audit_anchor, but cannot produce these: `npm run audit:verify` with
 * the public keys compares each row with its signed hash and names the first row that differs, and
 * a chain that ends before a signed seq as rows deleted from its end.
 *
 * The document is the canonical JSON (RFC 8785) of the fields below; `signature` is the base64
 * Ed25519 signature over the canonical JSON of the document without `signature`.
 */

export const ANCHOR_FORMAT = 'labloop-audit-anchor/1';
/** Rows per published anchor: ~70 bytes each, so an object stays well under a megabyte. */
export const MAX_ROWS_PER_ANCHOR = 10_000;

const hash = z.string().regex(/^[0-9a-f]{64}$/);
const decimal = z.string().regex(/^\d+$/);

const SignedAnchorSchema = z.object({
  format: z.literal(ANCHOR_FORMAT),
  key_id: z.string().regex(/^[0-9a-f]{16}$/),
  after_seq: decimal,
  seq: decimal,
  row_hash: hash,
  row_hashes: z.array(hash),
  anchored_at: z.string(),
  signature: z.string().min(1),
});
export type SignedAnchor = z.infer<typeof SignedAnchorSchema>;

export function anchorObjectName(anchor: Pick<SignedAnchor, 'seq' | 'after_seq' | 'key_id'>): string {
  return `audit-anchor-${anchor.seq.padStart(16, '0')}-${anchor.after_seq.padStart(16, '0')}-${anchor.key_id}.json`;
}

function signedPart(anchor: Omit<SignedAnchor, 'signature'>): Buffer {
  const { format, key_id, after_seq, seq, row_hash, row_hashes, anchored_at } = anchor;
  return Buffer.from(canonicalJson({ format, key_id, after_seq, seq, row_hash, row_hashes, anchored_at }), 'utf8');
}

export function signAnchor(
  signer: AnchorSigner,
  range: { afterSeq: bigint; rowHashes: string[]; anchoredAt: Date },
): SignedAnchor {
  const last = range.rowHashes.at(-1);
  if (last === undefined) throw new RangeError('an anchor covers at least one row');
  const body = {
    format: ANCHOR_FORMAT,
    key_id: signer.keyId,
    after_seq: range.afterSeq.toString(),
    seq: (range.afterSeq + BigInt(range.rowHashes.length)).toString(),
    row_hash: last,
    row_hashes: range.rowHashes,
    anchored_at: range.anchoredAt.toISOString(),
  } as const;
  return { ...body, signature: signer.sign(signedPart(body)).toString('base64') };
}

/** An anchor in the store that cannot be trusted: unreadable, unsigned by a known key, or altered. */
export class AnchorInvalidError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnchorInvalidError';
  }
}

export function parseSignedAnchor(name: string, text: string, keys: Map<string, KeyObject>): SignedAnchor {
  let parsed: SignedAnchor;
  try {
    parsed = SignedAnchorSchema.parse(JSON.parse(text));
  } catch {
    throw new AnchorInvalidError(`signed anchor ${name} is not a ${ANCHOR_FORMAT} document`);
  }
  const key = keys.get(parsed.key_id);
  if (key === undefined)
    throw new AnchorInvalidError(
      `signed anchor ${name} is signed with key ${parsed.key_id}, which is not among the public keys given (keep every retired public key)`,
    );
  if (!verifySignature(key, signedPart(parsed), Buffer.from(parsed.signature, 'base64')))
    throw new AnchorInvalidError(
      `signed anchor ${name} has a signature that does not verify with key ${parsed.key_id}`,
    );
  if (
    BigInt(parsed.seq) !== BigInt(parsed.after_seq) + BigInt(parsed.row_hashes.length) ||
    parsed.row_hashes.at(-1) !== parsed.row_hash ||
    name !== anchorObjectName(parsed)
  )
    throw new AnchorInvalidError(`signed anchor ${name} is inconsistent (its range, head or name do not agree)`);
  return parsed;
}

/** What a verifier checks each row against: seq -> the signed hash, and where it was signed. */
export interface SignedHashes {
  hashes: Map<bigint, { rowHash: string; source: string }>;
  /** The highest signed seq, if any. */
  highest?: { seq: bigint; rowHash: string; source: string };
  anchors: number;
  keyIds: string[];
}

/** Load and check every signed anchor in the store (all must verify: a forged one is an error). */
export async function loadSignedHashes(store: AnchorStore, keys: Map<string, KeyObject>): Promise<SignedHashes> {
  const names = (await store.list()).sort();
  const hashes = new Map<bigint, { rowHash: string; source: string }>();
  const keyIds = new Set<string>();
  let highest: SignedHashes['highest'];
  for (const name of names) {
    const anchor = parseSignedAnchor(name, await store.get(name), keys);
    keyIds.add(anchor.key_id);
    const source = `signed anchor ${name} (key ${anchor.key_id}, anchored ${anchor.anchored_at})`;
    let seq = BigInt(anchor.after_seq);
    for (const rowHash of anchor.row_hashes) {
      seq += 1n;
      const known = hashes.get(seq);
      if (known !== undefined && known.rowHash !== rowHash)
        throw new AnchorInvalidError(`${source} and ${known.source} sign different hashes for seq ${seq}`);
      hashes.set(seq, { rowHash, source });
    }
    if (highest === undefined || seq > highest.seq) highest = { seq, rowHash: anchor.row_hash, source };
  }
  return { hashes, anchors: names.length, keyIds: [...keyIds].sort(), ...(highest ? { highest } : {}) };
}

/** The highest seq any anchor in the store covers (0n for none): where a publisher resumes. */
export async function highestPublishedSeq(store: AnchorStore): Promise<bigint> {
  let highest = 0n;
  for (const name of await store.list()) {
    const seq = BigInt(name.slice('audit-anchor-'.length, 'audit-anchor-'.length + 16));
    if (seq > highest) highest = seq;
  }
  return highest;
}

export interface AnchorPublisher {
  /** Publish signed anchors for every sealed row not yet published; returns how many rows. */
  publish(): Promise<number>;
}

/**
 * Publishes the chain from where the store leaves off up to the current head. Rows are read from
 * the database as they stand now: tampering that happens before a row is published is not caught
 * by this anchor, which is why the publisher runs every few seconds (the worker's anchoring loop).
 */
export function createAnchorPublisher(options: {
  pool: Pool;
  signer: AnchorSigner;
  store: AnchorStore;
  maxRowsPerAnchor?: number;
  now?: () => Date;
}): AnchorPublisher {
  const maxRows = options.maxRowsPerAnchor ?? MAX_ROWS_PER_ANCHOR;
  let published: bigint | undefined;
  return {
    async publish() {
      published ??= await highestPublishedSeq(options.store);
      const head = await chainHead(options.pool);
      if (head === undefined || BigInt(head.seq) <= published) return 0;
      let rows = 0;
      while (published < BigInt(head.seq)) {
        const { rows: fetched } = await options.pool.query<{ seq: string; row_hash: string }>(
          `SELECT seq::text AS seq, row_hash FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY audit_log.seq LIMIT $3`,
          [published.toString(), String(head.seq), maxRows],
        );
        // Only the gapless run after what is published: a gap is a deleted row, never signed over.
        const start = published;
        const page = fetched.filter((r, i) => BigInt(r.seq) === start + BigInt(i + 1));
        if (page.length === 0) throw new Error(`audit chain has no row ${published + 1n} to anchor: run audit:verify`);
        const anchor = signAnchor(options.signer, {
          afterSeq: published,
          rowHashes: page.map((r) => r.row_hash),
          anchoredAt: (options.now ?? (() => new Date()))(),
        });
        await options.store.put(anchorObjectName(anchor), `${canonicalJson(anchor)}\n`);
        published = BigInt(anchor.seq);
        rows += page.length;
      }
      return rows;
    },
  };
}
