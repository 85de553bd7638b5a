/**
 * `npm run audit:keygen -- DIR`: a new Ed25519 key pair for signing audit anchors, written as
 * DIR/audit-signing-<keyId>.key (0600) and .pub. Rotation (docs/security.md "Audit log"): point the
 * worker's AUDIT_SIGNING_KEY_FILE at the new key and restart it, and add the new .pub to
 * AUDIT_ANCHOR_PUBLIC_KEYS next to the old ones, which stay: anchors already published name the key
 * that signed them and are checked with it.
 */
import { generateAnchorKeyPair } from '../lib/audit/signing';

const dir = process.argv[2];
if (dir === undefined || dir.startsWith('-')) {
  console.error('usage: npm run audit:keygen -- DIR');
  process.exitCode = 2;
} else {
  const { keyId, privateKeyFile, publicKeyFile } = generateAnchorKeyPair(dir);
  console.log(`key ${keyId}\n  private (the worker only): ${privateKeyFile}\n  public (verifiers): ${publicKeyFile}`);
}
