/**
 * The append-only, hash-chained audit log. Activities depend on AuditSink; the worker builds one
 * with createAuditLog(pool) (appends take no lock; rows are sealed into the chain in batches,
 * lib/audit/seal.ts) and anchors the chain head periodically (startAuditAnchoring), signed and
 * outside the database too (lib/audit/external-anchor.ts); the
 * review app's export endpoint streams exportAudit(); operators run `npm run audit:verify`
 * (verifyAuditChain, against the stored anchors) and `npm run audit:export`.
 */
export * from './types';
export { canonicalJson } from './canonical-json';
export { GENESIS_HASH, AUDIT_RECORD_FIELDS, canonicalRecord, computeRowHash } from './record';
export { AuditInputError, MAX_DETAILS_BYTES } from './validate';
export { createAuditLog, AuditIdempotencyConflictError, type AuditLog } from './append';
export {
  verifyAuditChain,
  DEFAULT_VERIFY_BATCH_SIZE,
  type VerifyResult,
  type VerifyOptions,
  type TamperKind,
} from './verify';
export {
  exportAudit,
  AUDIT_CSV_HEADER,
  CSV_TRAILER_MARK,
  parseChainHeadTrailer,
  type AuditExportOptions,
  type AuditExportFormat,
  type ChainHeadTrailer,
} from './export';
export {
  anchorAuditHead,
  latestAnchor,
  startAuditAnchoring,
  ANCHOR_EVERY_N_APPENDS,
  DEFAULT_ANCHOR_INTERVAL_MS,
  type AuditAnchor,
  type AuditAnchoring,
  type AnchorReason,
} from './anchor';
export { sealAuditLog, SEAL_BATCH_SIZE, type SealOutcome } from './seal';
export {
  createAnchorPublisher,
  loadSignedHashes,
  AnchorInvalidError,
  ANCHOR_FORMAT,
  type AnchorPublisher,
  type SignedAnchor,
  type SignedHashes,
} from './external-anchor';
export { directoryAnchorStore, type AnchorStore } from './anchor-store';
export { s3AnchorStore } from './anchor-store-s3';
export { loadAnchorSigner, loadPublicKeys, generateAnchorKeyPair, keyIdOf, type AnchorSigner } from './signing';
