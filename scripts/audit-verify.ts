/**
 * `npm run audit:verify [-- --anchor SEQ:HASH | --anchor-from EXPORT_FILE] [--anchors-dir DIR]
 *   [--public-key FILE ...] [--batch-size N]`
 *
 * With signed anchors (the store of AUDIT_ANCHOR_S3_URL or AUDIT_ANCHOR_DIR, or --anchors-dir) and
 * the public keys (AUDIT_ANCHOR_PUBLIC_KEYS, or --public-key, repeatable: the current key and every
 * retired one), every row is also compared with the hash signed outside the database, which catches
 * a chain rewritten together with its stored anchors and names its first changed row. An anchor that
 * is not signed by one of the keys, or altered, makes the check fail (exit 1).
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
import { directoryAnchorStore, type AnchorStore } from '../lib/audit/anchor-store';
import { anchorStoreFromConfig, publicKeyFiles } from '../lib/audit/anchor-config';
import { AnchorInvalidError, loadSignedHashes } from '../lib/audit/external-anchor';
import { loadPublicKeys } from '../lib/audit/signing';
import { loadAuditAnchorConfig } from '../lib/config';

const EXIT_INTACT = 0;
const EXIT_TAMPERED = 1;
const EXIT_ERROR = 2;

class UsageError extends Error {}

interface SignedSource {
  store: AnchorStore;
  keyFiles: string[];
}

function options(): { databaseUrl: string; verify: VerifyOptions; signed?: SignedSource } {
  const { values } = parseArgs({
    options: {
      anchor: { type: 'string' },
      'anchor-from': { type: 'string' },
      'batch-size': { type: 'string' },
      'anchors-dir': { type: 'string' },
      'public-key': { type: 'string', multiple: true },
    },
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
  const anchorConfig = loadAuditAnchorConfig();
  const store =
    values['anchors-dir'] !== undefined
      ? directoryAnchorStore(values['anchors-dir'])
      : anchorStoreFromConfig(anchorConfig);
  const keyFiles = values['public-key'] ?? publicKeyFiles(anchorConfig);
  if (store !== undefined && keyFiles.length === 0)
    throw new UsageError(
      `signed anchors are in ${store.description}: give the public keys (--public-key FILE or AUDIT_ANCHOR_PUBLIC_KEYS) to check them`,
    );
  if (store === undefined && keyFiles.length > 0)
    throw new UsageError(
      'public keys given but no signed anchors: set AUDIT_ANCHOR_S3_URL or AUDIT_ANCHOR_DIR, or --anchors-dir',
    );
  return { databaseUrl: url.data, verify, ...(store !== undefined ? { signed: { store, keyFiles } } : {}) };
}

async function main(): Promise<number> {
  const { databaseUrl, verify, signed } = options();
  let signedSummary = '';
  if (signed !== undefined) {
    try {
      verify.signed = await loadSignedHashes(signed.store, loadPublicKeys(signed.keyFiles));
    } catch (error) {
      if (!(error instanceof AnchorInvalidError)) throw error;
      console.log(`audit chain NOT VERIFIED: ${error.message}`);
      return EXIT_TAMPERED;
    }
    signedSummary = `${verify.signed.anchors} signed anchor${verify.signed.anchors === 1 ? '' : 's'} in ${signed.store.description} (keys ${verify.signed.keyIds.join(', ') || 'none'})`;
  }
  const pool = createPool(databaseUrl, { max: 2, applicationName: 'labloop-audit-verify' });
  try {
    const result = await verifyAuditChain(pool, verify);
    if (result.ok) {
      const anchors =
        result.anchorsChecked === 0
          ? 'no anchors to check'
          : `${result.anchorsChecked} anchor${result.anchorsChecked === 1 ? '' : 's'} checked, up to seq ${result.anchoredSeq}`;
      const signedRows =
        signed === undefined
          ? ''
          : `${signedSummary}, ${result.signedRowsChecked ?? 0} rows matched their signed hash; `;
      console.log(
        `audit chain intact: ${result.rows} rows, ${anchors}; ${signedRows}head seq ${result.headSeq} hash ${result.headHash}`,
      );
      // Stored anchors live with the chain: only signed ones show that its owner did not rewrite it.
      if (signed === undefined)
        console.error(
          'audit:verify: no signed anchors checked (set AUDIT_ANCHOR_DIR or AUDIT_ANCHOR_S3_URL, and AUDIT_ANCHOR_PUBLIC_KEYS)',
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
