import type { Pool } from 'pg';
import type { AuditAnchorConfig } from '../config';
import { directoryAnchorStore, type AnchorStore } from './anchor-store';
import { s3AnchorStore } from './anchor-store-s3';
import { createAnchorPublisher, type AnchorPublisher } from './external-anchor';
import { loadAnchorSigner } from './signing';

/** The configured store: the S3 bucket when AUDIT_ANCHOR_S3_URL is set, else AUDIT_ANCHOR_DIR, else none. */
export function anchorStoreFromConfig(config: AuditAnchorConfig): AnchorStore | undefined {
  if (config.AUDIT_ANCHOR_S3_URL !== undefined)
    return s3AnchorStore({
      url: config.AUDIT_ANCHOR_S3_URL,
      region: config.AUDIT_ANCHOR_S3_REGION,
      accessKeyId: config.AUDIT_ANCHOR_S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: config.AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY ?? '',
      retentionDays: config.AUDIT_ANCHOR_S3_RETENTION_DAYS,
      lockMode: config.AUDIT_ANCHOR_S3_LOCK_MODE,
    });
  if (config.AUDIT_ANCHOR_DIR !== undefined) return directoryAnchorStore(config.AUDIT_ANCHOR_DIR);
  return undefined;
}

/** The worker's publisher, or undefined (with the reason) when signing or the store is not configured. */
export function anchorPublisherFromConfig(
  config: AuditAnchorConfig,
  pool: Pool,
): { publisher: AnchorPublisher; keyId: string; store: string } | { publisher?: undefined; missing: string } {
  const store = anchorStoreFromConfig(config);
  if (config.AUDIT_SIGNING_KEY_FILE === undefined) return { missing: 'AUDIT_SIGNING_KEY_FILE is not set' };
  if (store === undefined) return { missing: 'neither AUDIT_ANCHOR_S3_URL nor AUDIT_ANCHOR_DIR is set' };
  const signer = loadAnchorSigner(config.AUDIT_SIGNING_KEY_FILE);
  return { publisher: createAnchorPublisher({ pool, signer, store }), keyId: signer.keyId, store: store.description };
}

/** AUDIT_ANCHOR_PUBLIC_KEYS as file paths. */
export function publicKeyFiles(config: AuditAnchorConfig): string[] {
  return (config.AUDIT_ANCHOR_PUBLIC_KEYS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
