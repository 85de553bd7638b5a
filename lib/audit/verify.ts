import type { Pool } from 'pg';
import { z } from 'zod';
import { canonicalJson } from './canonical-json';
import { AUDIT_RECORD_SELECT, GENESIS_HASH, computeRowHash, parseStoredRow, toSafeNumber } from './record';
import type { StoredAuditRecord } from './types';
import { anchorWatermark, anchorsBetween, type AuditAnchor } from './anchor';
import type { SignedHashes } from './external-anchor';

/** Rows per keyset page: a few hundred KB of memory, and a million rows in a thousand queries. */
export const DEFAULT_VERIFY_BATCH_SIZE = 1000;

/**
 * What went wrong at the first bad row:
 * - `edited`: the row's content no longer matches its hash (or it was re-hashed, and the next row
 *   still records the old hash);
 * - `deleted`: a row is missing (a gap in seq, or later rows renumbered over it);
 * - `reordered`: rows are all present but not in chain order (e.g. two rows' seq swapped);
 * - `inserted`: a row that was never appended through the chain (seq out of sequence, or a row that
 *   its successor links past).
 * - `rewritten`: the chain is consistent in itself, but from this row on it is not the chain that was
 *   signed (lib/audit/external-anchor.ts): rows were edited, deleted or inserted and every hash after
 *   them recomputed, as only someone with the database owner's rights can.
 */
export type TamperKind = 'edited' | 'deleted' | 'reordered' | 'inserted' | 'rewritten';

export type VerifyResult =
  | {
      ok: true;
      rows: number;
      headSeq: number;
      headHash: string;
      /** How many anchors (stored, and the one given) were checked against the chain. */
      anchorsChecked: number;
      /** The highest anchored seq that was checked, if any. */
      anchoredSeq?: number;
      /** Rows compared with their hash in a signed anchor kept outside the database (with `signed`). */
      signedRowsChecked?: number;
    }
  | { ok: false; rows: number; firstBadSeq: number; problem: TamperKind; detail: string };

export interface VerifyOptions {
  batchSize?: number;
  /**
   * A head kept elsewhere (an export's trailer, or the line a previous verify printed). The stored
   * anchors can be deleted by whoever can delete rows; one kept outside the database cannot.
   */
  anchor?: { seq: number; rowHash: string };
  /** Check the chain against the anchors in audit_anchor (default true). */
  storedAnchors?: boolean;
  /**
   * Row hashes from the signed anchors kept outside the database (loadSignedHashes), checked with
   * the public keys: what catches a chain rewritten together with its stored anchors.
   */
  signed?: SignedHashes;
}

/** An anchor to check, with where it came from for the report. */
type CheckedAnchor = AuditAnchor & { source: string };

function describeAnchor(a: CheckedAnchor): string {
  return a.anchoredAt === undefined ? a.source : `${a.source}, anchored ${a.anchoredAt}`;
}

/**
 * Walk the whole chain in seq order with bounded memory (keyset pages) and report the first row
 * that was edited, deleted, reordered or inserted. `rows` counts the rows found intact before it.
 * Every anchor (lib/audit/anchor.ts) is checked on the way: a chain that ends before an anchored
 * seq, or whose row at an anchored seq no longer has the anchored hash, lost rows at its end (rows
 * appended since may have taken their place), reported as "rows deleted after seq N". Safe to run
 * while appends go on: they only add rows after the tail, and only anchors that existed when the
 * walk started are considered.
 */
export async function verifyAuditChain(pool: Pool, options: VerifyOptions = {}): Promise<VerifyResult> {
  const batchSize = options.batchSize ?? DEFAULT_VERIFY_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  const stored = options.storedAnchors === false ? { maxId: '0' } : await anchorWatermark(pool);
  const given: CheckedAnchor | undefined =
    options.anchor === undefined ? undefined : { ...options.anchor, reason: 'manual', source: 'the anchor given' };
  const highest = [
    ...(stored.highest !== undefined
      ? [{ ...stored.highest, source: `stored anchor (${stored.highest.reason})` }]
      : []),
    ...(given !== undefined ? [given] : []),
  ].sort((a, b) => b.seq - a.seq)[0];
  let expectedSeq = 1n;
  let expectedPrev = GENESIS_HASH;
  let intact = 0;
  let anchorsChecked = 0;
  /** The highest anchored seq whose row still has the anchored hash. */
  let lastMatched = 0n;
  let signedRowsChecked = 0;
  /** The highest seq whose row still has its signed hash. */
  let lastSigned = 0n;

  for (let after = 0n; ;) {
    const page = await pool.query(
      `SELECT ${AUDIT_RECORD_SELECT} FROM audit_log WHERE seq > $1 ORDER BY audit_log.seq LIMIT $2`,
      [after.toString(), batchSize],
    );
    const rows = page.rows.map(parseStoredRow);
    const respelled = await respelledDetails(pool, rows, page.rows);
    const last = rows.at(-1);
    const anchors: CheckedAnchor[] =
      last === undefined || stored.maxId === '0'
        ? []
        : (await anchorsBetween(pool, after, BigInt(last.seq), stored.maxId)).map((a) => ({
            ...a,
            source: `stored anchor (${a.reason})`,
          }));
    if (given !== undefined && last !== undefined && BigInt(given.seq) > after && BigInt(given.seq) <= BigInt(last.seq))
      anchors.push(given);
    for (const row of rows) {
      const finding = await inspect(pool, row, expectedSeq, expectedPrev, respelled.has(row.seq));
      if (finding !== undefined) return { ok: false, rows: intact - finding.backtrack, ...finding.result };
      const signed = options.signed?.hashes.get(expectedSeq);
      if (signed !== undefined) {
        signedRowsChecked += 1;
        if (signed.rowHash !== row.row_hash) return rewrittenAt(row, signed, lastSigned, intact);
        lastSigned = expectedSeq;
      }
      for (const anchor of anchors.filter((a) => BigInt(a.seq) === expectedSeq)) {
        anchorsChecked += 1;
        if (anchor.rowHash !== row.row_hash) return replacedAfter(pool, anchor, row, lastMatched);
        lastMatched = expectedSeq;
      }
      intact += 1;
      expectedSeq += 1n;
      expectedPrev = row.row_hash;
    }
    if (page.rows.length < batchSize) break;
    after = expectedSeq - 1n;
  }

  const headSeq = expectedSeq - 1n;
  const signedHighest = options.signed?.highest;
  if (signedHighest !== undefined && signedHighest.seq > headSeq)
    return {
      ok: false,
      rows: intact,
      firstBadSeq: toSafeNumber(expectedSeq.toString()),
      problem: 'deleted',
      detail: `rows deleted after seq ${headSeq}: the chain ends there, but ${signedHighest.source} signs seq ${signedHighest.seq} (hash ${signedHighest.rowHash}); rows ${expectedSeq}..${signedHighest.seq} or more were removed from its end`,
    };
  if (highest !== undefined && BigInt(highest.seq) > headSeq)
    return {
      ok: false,
      rows: intact,
      firstBadSeq: toSafeNumber(expectedSeq.toString()),
      problem: 'deleted',
      detail: `rows deleted after seq ${headSeq}: the chain ends there, but ${describeAnchor(highest)} records seq ${highest.seq} (hash ${highest.rowHash}); rows ${expectedSeq}..${highest.seq} or more were removed from its end`,
    };
  return {
    ok: true,
    rows: intact,
    headSeq: toSafeNumber(headSeq.toString()),
    headHash: expectedPrev,
    anchorsChecked,
    ...(lastMatched > 0n ? { anchoredSeq: toSafeNumber(lastMatched.toString()) } : {}),
    ...(options.signed !== undefined ? { signedRowsChecked } : {}),
  };
}

/** The first row whose hash is not the signed one: from here on the chain was recomputed. */
function rewrittenAt(
  row: StoredAuditRecord,
  signed: { rowHash: string; source: string },
  lastSigned: bigint,
  intact: number,
): VerifyResult {
  const seq = BigInt(row.seq);
  const where =
    lastSigned === seq - 1n
      ? `row ${seq - 1n} still has its signed hash, so row ${seq} is the first row changed`
      : `no signed hash covers rows ${lastSigned + 1n}..${seq - 1n}, so the first row changed is among rows ${lastSigned + 1n}..${seq}`;
  return {
    ok: false,
    rows: intact,
    firstBadSeq: toSafeNumber(row.seq),
    problem: 'rewritten',
    detail: `row ${seq} has hash ${row.row_hash}, but ${signed.source} signs ${signed.rowHash}: the chain from row ${seq} on was rewritten and its hashes recomputed (${where})`,
  };
}

/**
 * The row at an anchored seq is internally consistent but not the row that was anchored: the rows
 * after some seq N were deleted and others appended in their place (or the chain was recomputed).
 * N is the last anchored seq that still matched, moved up to just before the first row recorded
 * after the anchor was taken (such a row cannot have been in the chain the anchor saw).
 */
async function replacedAfter(
  pool: Pool,
  anchor: CheckedAnchor,
  row: StoredAuditRecord,
  lastMatched: bigint,
): Promise<VerifyResult> {
  let after = lastMatched;
  if (anchor.anchoredAt !== undefined) {
    const { rows } = await pool.query<{ seq: string | null }>(
      `SELECT min(seq)::text AS seq FROM audit_log WHERE seq > $1 AND seq <= $2 AND recorded_at > $3::timestamptz`,
      [lastMatched.toString(), row.seq, anchor.anchoredAt],
    );
    const firstLater = rows[0]?.seq;
    if (firstLater !== null && firstLater !== undefined && BigInt(firstLater) - 1n > after)
      after = BigInt(firstLater) - 1n;
  }
  return {
    ok: false,
    rows: toSafeNumber(after.toString()),
    firstBadSeq: toSafeNumber((after + 1n).toString()),
    problem: 'deleted',
    detail: `rows deleted after seq ${after}: ${describeAnchor(anchor)} records seq ${anchor.seq} with hash ${anchor.rowHash}, but row ${row.seq} now has hash ${row.row_hash}; rows ${after + 1n}..${row.seq} were replaced (deleted and appended again, or the chain recomputed)`,
  };
}

/**
 * The hash covers details as JSON values (what JSON.parse yields), in which 7 and 7.0, or two
 * spellings of one double, are the same. An attacker could still change the stored spelling without
 * changing the hash, so check that each row's stored jsonb is exactly what its canonical form turns
 * into in PostgreSQL, which it always is for rows written by the appender. One query per page.
 */
async function respelledDetails(pool: Pool, rows: StoredAuditRecord[], raw: unknown[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const stored = raw.map((r) => StoredDetailsSchema.parse(r).details);
  const canonical = rows.map((r) => canonicalJson(r.details));
  const result = await pool.query<{ i: string }>(
    `SELECT i::text AS i FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(stored, canonical, i)
     WHERE stored <> canonical::jsonb::text`,
    [stored, canonical],
  );
  return new Set(result.rows.map((r) => rows[Number(r.i) - 1]?.seq ?? ''));
}

const StoredDetailsSchema = z.object({ details: z.string() });

interface Finding {
  result: { firstBadSeq: number; problem: TamperKind; detail: string };
  /** When the culprit is the row before the one that exposed it, that row was counted as intact. */
  backtrack: number;
}

function finding(seq: bigint, problem: TamperKind, detail: string, backtrack = 0): Finding {
  return { result: { firstBadSeq: toSafeNumber(seq.toString()), problem, detail }, backtrack };
}

/** Does the row's content hash to its row_hash if its seq were `seq`? (Was it only moved?) */
function hashesAt(row: StoredAuditRecord, seq: bigint): boolean {
  return seq >= 1n && computeRowHash({ ...row, seq: seq.toString() }) === row.row_hash;
}

async function rowByHash(pool: Pool, hash: string): Promise<StoredAuditRecord | undefined> {
  const r = await pool.query(`SELECT ${AUDIT_RECORD_SELECT} FROM audit_log WHERE row_hash = $1`, [hash]);
  return r.rows[0] === undefined ? undefined : parseStoredRow(r.rows[0]);
}

async function rowAfter(pool: Pool, seq: bigint): Promise<StoredAuditRecord | undefined> {
  const r = await pool.query(
    `SELECT ${AUDIT_RECORD_SELECT} FROM audit_log WHERE seq > $1 ORDER BY audit_log.seq LIMIT 1`,
    [seq.toString()],
  );
  return r.rows[0] === undefined ? undefined : parseStoredRow(r.rows[0]);
}

/**
 * Check one row against the chain so far; on a mismatch, tell the kinds of tampering apart by what
 * else is true. The row's own hash covers its seq and prev_hash, so moving a row breaks its hash
 * while its link still names its true predecessor; deleting a row leaves a link to a hash that no
 * row has; inserting one leaves its successor linking past it. Extra queries run only on a mismatch.
 */
async function inspect(
  pool: Pool,
  row: StoredAuditRecord,
  expectedSeq: bigint,
  expectedPrev: string,
  detailsRespelled: boolean,
): Promise<Finding | undefined> {
  const seq = BigInt(row.seq);
  const selfOk = !detailsRespelled && computeRowHash(row) === row.row_hash;
  const linkOk = row.prev_hash === expectedPrev;
  if (seq === expectedSeq && linkOk && selfOk) return undefined;

  if (seq < expectedSeq) return finding(seq, 'inserted', `row ${seq} has a seq below 1; the chain starts at seq 1`);

  if (seq > expectedSeq) {
    const gap = seq - expectedSeq === 1n ? `seq ${expectedSeq}` : `seqs ${expectedSeq}..${seq - 1n}`;
    if (!linkOk)
      return finding(
        expectedSeq,
        'deleted',
        `${gap} missing: row ${seq} follows row ${expectedSeq - 1n} but links to a row that is not there`,
      );
    // Nothing is missing between them (the link holds), so the seq itself is wrong.
    return hashesAt(row, expectedSeq)
      ? finding(seq, 'edited', `row ${expectedSeq} had its seq changed to ${seq}`)
      : finding(seq, 'inserted', `row ${seq} links to row ${expectedSeq - 1n} but skips ${gap}`);
  }

  if (linkOk) {
    // The content changed under an intact link. Edited, unless its successor links past it, which
    // means it was slipped in before that successor (and later rows were renumbered to make room).
    const next = await rowAfter(pool, seq);
    if (next !== undefined && next.prev_hash !== row.row_hash && next.prev_hash === row.prev_hash)
      return finding(
        seq,
        'inserted',
        `row ${seq} does not match its hash, and row ${next.seq} links past it to row ${seq - 1n}: row ${seq} was inserted`,
      );
    return finding(
      seq,
      'edited',
      detailsRespelled && computeRowHash(row) === row.row_hash
        ? `row ${seq}'s stored details were respelled (same JSON values, different jsonb)`
        : `row ${seq}'s content does not match its row_hash`,
    );
  }

  const linked = await rowByHash(pool, row.prev_hash);
  if (selfOk) {
    if (seq === 1n) return finding(seq, 'inserted', 'row 1 does not start from the genesis hash');
    if (linked !== undefined)
      return finding(
        seq - 1n,
        'reordered',
        `row ${seq} follows row ${linked.seq}, not row ${seq - 1n}: row ${seq - 1n} is out of place`,
        1,
      );
    return finding(
      seq - 1n,
      'edited',
      `row ${seq} records a hash for row ${seq - 1n} that no row has: row ${seq - 1n} was changed and re-hashed`,
      1,
    );
  }

  if (hashesAt(row, seq + 1n)) {
    return linked !== undefined
      ? finding(seq, 'reordered', `row ${seq} belongs at seq ${seq + 1n} (after row ${linked.seq}): rows were swapped`)
      : finding(
          seq,
          'deleted',
          `row ${seq} was removed and the rows after it renumbered down (this row was ${seq + 1n})`,
        );
  }
  if (hashesAt(row, seq - 1n))
    return finding(
      seq - 1n,
      'inserted',
      `row ${seq} was seq ${seq - 1n} and still links to row ${seq - 2n}: row ${seq - 1n} was inserted and later rows renumbered up`,
      1,
    );
  if (linked !== undefined) {
    const origin = BigInt(linked.seq) + 1n;
    const where = hashesAt(row, origin) ? ` (it belongs at seq ${origin})` : '';
    return finding(
      seq,
      'reordered',
      `row ${seq} is out of place: it follows row ${linked.seq}, not row ${seq - 1n}${where}`,
    );
  }
  return finding(seq, 'edited', `row ${seq}'s content and its link to row ${seq - 1n} were both changed`);
}
