/**
 * `npm run audit:verify [-- --anchor SEQ:HASH | --anchor-from EXPORT_FILE] [--batch-size N]`
 *
 * Walks the audit chain in DATABASE_URL, checking it against every anchor stored in audit_anchor
 * (and the one given, if any), and prints one line. Exit 0: intact (the line ends with the head seq
 * and hash). Exit 1: the first edited, deleted, reordered or inserted row; rows cut off the end of
 * the chain are named as "rows deleted after seq N". Exit 2: could not check (bad arguments, no
 * database). Stored anchors can be deleted by whoever can delete rows; an anchor kept outside the
 * database (an export file's trailer: --anchor-from FILE, or a printed head: --anchor) cannot.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createPool } from '../lib/db/pool';
import { verifyAuditChain, type VerifyOptions } from '../lib/audit/verify';
import { parseChainHeadTrailer } from '../lib/audit/export';

const EXIT_INTACT = 0;
const EXIT_TAMPERED = 1;
const EXIT_ERROR = 2;

class UsageError extends Error {}

function options(): { databaseUrl: string; verify: VerifyOptions } {
  const { values } = parseArgs({
    options: { anchor: { type: 'string' }, 'anchor-from': { type: 'string' }, 'batch-size': { type: 'string' } },
    strict: true,
  });
  const url = z
    .string({ error: 'DATABASE_URL is not set: point it at the database whose audit_log to verify' })
    .startsWith('postgres', 'DATABASE_URL must be a postgres:// or postgresql:// URL')
    .safeParse(process.env.DATABASE_URL || undefined);
  if (!url.success) throw new UsageError(url.error.issues[0]?.message ?? 'DATABASE_URL is invalid');

  const verify: VerifyOptions = {};
  if (values['batch-size'] !== undefined) {
    const n = Number(values['batch-size']);
    if (!Number.isInteger(n) || n < 1) throw new UsageError('--batch-size must be a positive integer');
    verify.batchSize = n;
  }
  if (values.anchor !== undefined) {
    const m = /^(\d+):([0-9a-f]{64})$/.exec(values.anchor);
    if (m === null) throw new UsageError('--anchor must be SEQ:HASH (a seq and a 64-hex-digit row hash)');
    verify.anchor = { seq: Number(m[1]), rowHash: m[2] };
  }
  if (values['anchor-from'] !== undefined) {
    if (verify.anchor !== undefined) throw new UsageError('give --anchor or --anchor-from, not both');
    let text: string;
    try {
      text = readFileSync(values['anchor-from'], 'utf8');
    } catch {
      throw new UsageError(`--anchor-from: cannot read ${values['anchor-from']}`);
    }
    const head = parseChainHeadTrailer(text);
    if (head === undefined || !/^[0-9a-f]{64}$/.test(head.row_hash))
      throw new UsageError(`--anchor-from: ${values['anchor-from']} does not end with an audit export trailer`);
    // An export of an empty chain names seq 0: nothing to anchor.
    if (Number(head.seq) > 0) verify.anchor = { seq: Number(head.seq), rowHash: head.row_hash };
  }
  return { databaseUrl: url.data, verify };
}

async function main(): Promise<number> {
  const { databaseUrl, verify } = options();
  const pool = createPool(databaseUrl, { max: 2, applicationName: 'labloop-audit-verify' });
  try {
    const result = await verifyAuditChain(pool, verify);
    if (result.ok) {
      const anchors =
        result.anchorsChecked === 0
          ? 'no anchors to check'
          : `${result.anchorsChecked} anchor${result.anchorsChecked === 1 ? '' : 's'} checked, up to seq ${result.anchoredSeq}`;
      console.log(
        `audit chain intact: ${result.rows} rows, ${anchors}; head seq ${result.headSeq} hash ${result.headHash}`,
      );
      return EXIT_INTACT;
    }
    console.log(
      `audit chain BROKEN at seq ${result.firstBadSeq} (${result.problem}): ${result.detail}; ${result.rows} rows intact before it`,
    );
    return EXIT_TAMPERED;
  } finally {
    await pool.end();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`audit:verify: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = EXIT_ERROR;
  },
);
