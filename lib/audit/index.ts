/**
 * The append-only, hash-chained audit log. Activities depend on AuditSink; the worker builds one
 * with createAuditLog(pool) and anchors the chain head periodically (startAuditAnchoring); the
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
