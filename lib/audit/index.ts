/**
 * The append-only, hash-chained audit log. Activities depend on AuditSink; the worker builds one
 * with createAuditLog(pool); the review app's export endpoint streams exportAudit(); operators run
 * `npm run audit:verify` (verifyAuditChain) and `npm run audit:export`.
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
export { exportAudit, AUDIT_CSV_HEADER, type AuditExportOptions, type AuditExportFormat } from './export';
