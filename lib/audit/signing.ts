import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Ed25519 keys that sign the audit chain's heads (lib/audit/external-anchor.ts). The private key
 * lives only with the process that publishes anchors (the worker), never in the database; the
 * public keys are all a verifier needs. A key is named by its key ID: the first 16 hex digits of
 * the SHA-256 of its public key (SPKI DER), so an anchor names the key that signed it and old
 * public keys stay usable after a rotation.
 */

export interface AnchorSigner {
  keyId: string;
  sign(message: Buffer): Buffer;
}

export class AuditKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditKeyError';
  }
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

function assertEd25519(key: KeyObject, file: string): void {
  if (key.asymmetricKeyType !== 'ed25519') throw new AuditKeyError(`${file}: not an Ed25519 key`);
}

/** The signer for a PKCS#8 PEM private key file. */
export function loadAnchorSigner(file: string): AnchorSigner {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(file));
  } catch (error) {
    throw new AuditKeyError(`${file}: cannot read an Ed25519 private key (${(error as Error).message})`);
  }
  assertEd25519(privateKey, file);
  const keyId = keyIdOf(createPublicKey(privateKey));
  return { keyId, sign: (message) => sign(null, message, privateKey) };
}

/** Public keys by key ID, from PEM files (each a public key, or a private key whose public half is used). */
export function loadPublicKeys(files: string[]): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const file of files) {
    let key: KeyObject;
    try {
      key = createPublicKey(readFileSync(file));
    } catch (error) {
      throw new AuditKeyError(`${file}: cannot read an Ed25519 public key (${(error as Error).message})`);
    }
    assertEd25519(key, file);
    keys.set(keyIdOf(key), key);
  }
  return keys;
}

export function verifySignature(publicKey: KeyObject, message: Buffer, signature: Buffer): boolean {
  return verify(null, message, publicKey, signature);
}

/**
 * Write a new key pair as `<dir>/audit-signing-<keyId>.key` (0600) and `.pub`, for the sandbox and
 * tests, and for an operator's rotation (`npm run audit:keygen`). Returns the paths.
 */
export function generateAnchorKeyPair(dir: string): { keyId: string; privateKeyFile: string; publicKeyFile: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const keyId = keyIdOf(publicKey);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privateKeyFile = path.join(dir, `audit-signing-${keyId}.key`);
  const publicKeyFile = path.join(dir, `audit-signing-${keyId}.pub`);
  writeFileSync(privateKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }), { flag: 'wx' });
  chmodSync(publicKeyFile, 0o644);
  return { keyId, privateKeyFile, publicKeyFile };
}

/**
 * The sandbox's key: `<dir>/audit-signing.key` and `.pub`, created on first use, so `npm start`
 * signs anchors without any setup.
 */
export function ensureSandboxAnchorKey(dir: string): { privateKeyFile: string; publicKeyFile: string } {
  const privateKeyFile = path.join(dir, 'audit-signing.key');
  const publicKeyFile = path.join(dir, 'audit-signing.pub');
  if (!existsSync(privateKeyFile)) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(privateKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  }
  return { privateKeyFile, publicKeyFile };
}
