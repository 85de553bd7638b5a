import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import { SQL_ISO_MS, toSafeNumber } from './record';
import type { AnchorPublisher } from './external-anchor';
import { sealAuditLog } from './seal';

/**
 * Anchors: the chain head (seq, row_hash) recorded from time to time in the separate, equally
 * append-only `audit_anchor` table (migrations/530_audit_anchor.sql). A hash chain alone cannot show
 * that rows were cut off its end (the shorter chain is still a valid chain); an anchor can: the
 * verifier names any anchored row that is missing or no longer hashes to what was anchored as
 * "rows deleted after seq N".
 *
 * Heads are anchored by the sealer on every ANCHOR_EVERY_N_APPENDS-th row (same transaction), by
 * every export (whose file also carries the head in its trailer), and by the worker every
 * DEFAULT_ANCHOR_INTERVAL_MS while the head moves (startAuditAnchoring), so the last rows before a
 * quiet spell are anchored too. An attacker with the database owner's rights can rewrite these as
 * well; what survives them are the signed anchors the same loop publishes outside the database
 * (lib/audit/external-anchor.ts), checked by `npm run audit:verify` with the public keys.
 */

/** Every 100th row: an append pays one more INSERT once in a hundred times. */
export const ANCHOR_EVERY_N_APPENDS = 100;
/**
 * Ten seconds: rows cut off the end, or rewritten, are caught against a signed anchor once they
 * were appended at least this long before; one small object per interval while the chain moves.
 */
export const DEFAULT_ANCHOR_INTERVAL_MS = 10_000;

export const ANCHOR_REASONS = ['append', 'periodic', 'export', 'manual'] as const;
export type AnchorReason = (typeof ANCHOR_REASONS)[number];

export interface AuditAnchor {
  seq: number;
  rowHash: string;
  /** ISO-8601 UTC with milliseconds; absent for an anchor supplied by hand. */
  anchoredAt?: string;
  reason: AnchorReason;
}

const AnchorRow = z.object({
  id: z.string(),
  head_seq: z.string(),
  head_hash: z.string(),
  anchored_at: z.string(),
  reason: z.enum(ANCHOR_REASONS),
});

const ANCHOR_SELECT = `id::text AS id, head_seq::text AS head_seq, head_hash,
  to_char(anchored_at AT TIME ZONE 'UTC', ${SQL_ISO_MS}) AS anchored_at, reason`;

function toAnchor(row: unknown): AuditAnchor & { id: string } {
  const r = AnchorRow.parse(row);
  return { id: r.id, seq: toSafeNumber(r.head_seq), rowHash: r.head_hash, anchoredAt: r.anchored_at, reason: r.reason };
}

/** Anchor a row inside the caller's transaction (the appender's, for every Nth row). */
export async function insertAnchor(
  client: Pool | PoolClient,
  head: { seq: string | number; rowHash: string },
  reason: AnchorReason,
): Promise<AuditAnchor> {
  const { rows } = await client.query(
    `INSERT INTO audit_anchor (head_seq, head_hash, reason) VALUES ($1, $2, $3) RETURNING ${ANCHOR_SELECT}`,
    [String(head.seq), head.rowHash, reason],
  );
  const { id: _id, ...anchor } = toAnchor(rows[0]);
  return anchor;
}

/** The chain's last row, or undefined for an empty chain. */
export async function chainHead(pool: Pool | PoolClient): Promise<{ seq: number; rowHash: string } | undefined> {
  const { rows } = await pool.query<{ seq: string; row_hash: string }>(
    'SELECT seq::text AS seq, row_hash FROM audit_log WHERE seq IS NOT NULL ORDER BY audit_log.seq DESC LIMIT 1',
  );
  const row = rows[0];
  return row === undefined ? undefined : { seq: toSafeNumber(row.seq), rowHash: row.row_hash };
}

/**
 * Anchor the current head. With `onlyIfMoved`, nothing is written when the newest anchor already
 * covers it (the periodic anchor of an idle chain). Returns the anchor, or undefined when the chain
 * is empty or nothing moved.
 */
export async function anchorAuditHead(
  pool: Pool,
  reason: AnchorReason,
  options: { onlyIfMoved?: boolean } = {},
): Promise<AuditAnchor | undefined> {
  const head = await chainHead(pool);
  if (head === undefined) return undefined;
  if (options.onlyIfMoved === true) {
    const latest = await latestAnchor(pool);
    if (latest !== undefined && latest.seq >= head.seq) return undefined;
  }
  return insertAnchor(pool, head, reason);
}

/** The anchor of the highest seq (the newest head), if any. */
export async function latestAnchor(pool: Pool | PoolClient): Promise<AuditAnchor | undefined> {
  const { rows } = await pool.query(
    `SELECT ${ANCHOR_SELECT} FROM audit_anchor ORDER BY audit_anchor.head_seq DESC, audit_anchor.id DESC LIMIT 1`,
  );
  if (rows[0] === undefined) return undefined;
  const { id: _id, ...anchor } = toAnchor(rows[0]);
  return anchor;
}

/** The highest anchor id now: a verifier considers only anchors that existed when it started. */
export async function anchorWatermark(pool: Pool): Promise<{ maxId: string; highest?: AuditAnchor }> {
  const { rows } = await pool.query<{ max_id: string | null }>('SELECT max(id)::text AS max_id FROM audit_anchor');
  const maxId = rows[0]?.max_id ?? '0';
  const highest = await pool.query(
    `SELECT ${ANCHOR_SELECT} FROM audit_anchor WHERE id <= $1 ORDER BY audit_anchor.head_seq DESC, audit_anchor.id DESC LIMIT 1`,
    [maxId],
  );
  if (highest.rows[0] === undefined) return { maxId };
  const { id: _id, ...anchor } = toAnchor(highest.rows[0]);
  return { maxId, highest: anchor };
}

/** Anchors (up to the watermark) whose seq is in (afterSeq, uptoSeq], in seq order. */
export async function anchorsBetween(
  pool: Pool,
  afterSeq: bigint,
  uptoSeq: bigint,
  maxId: string,
): Promise<AuditAnchor[]> {
  const { rows } = await pool.query(
    `SELECT ${ANCHOR_SELECT} FROM audit_anchor WHERE head_seq > $1 AND head_seq <= $2 AND id <= $3
     ORDER BY audit_anchor.head_seq, audit_anchor.id`,
    [afterSeq.toString(), uptoSeq.toString(), maxId],
  );
  return rows.map((r) => {
    const { id: _id, ...anchor } = toAnchor(r);
    return anchor;
  });
}

export interface AuditAnchoring {
  /** Seal what is waiting, anchor the head if it moved, publish signed anchors (what every tick does). */
  tick(): Promise<AuditAnchor | undefined>;
  stop(): Promise<void>;
}

/**
 * Every `intervalMs`: seal rows nobody sealed yet (lib/audit/seal.ts), anchor the head in the
 * database while it moves, and publish signed anchors of the new rows outside the database
 * (lib/audit/external-anchor.ts) when a publisher is given. Runs in the worker (and the sandbox
 * stack), off the append path: appends never wait for it, and anchors lag the chain by one interval
 * at most. Several workers doing this is harmless (the sealer lock lets one seal; the same anchor
 * published twice keeps the first). A failed tick is reported to `onError` and retried at the next
 * one: anchoring is evidence, never on the path of a patient notification.
 */
export function startAuditAnchoring(options: {
  pool: Pool;
  intervalMs?: number;
  publisher?: AnchorPublisher;
  onError?: (err: unknown) => void;
}): AuditAnchoring {
  const intervalMs = options.intervalMs ?? DEFAULT_ANCHOR_INTERVAL_MS;
  let running: Promise<unknown> = Promise.resolve();
  const once = async () => {
    await sealAuditLog(options.pool);
    const anchor = await anchorAuditHead(options.pool, 'periodic', { onlyIfMoved: true });
    await options.publisher?.publish();
    return anchor;
  };
  const tick = () => {
    const next = running.then(once);
    running = next.catch((err: unknown) => options.onError?.(err));
    return next;
  };
  const timer = setInterval(() => {
    tick().catch(() => undefined);
  }, intervalMs);
  // Never the reason a process stays alive.
  timer.unref();
  return {
    tick,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
