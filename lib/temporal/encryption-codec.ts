import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { unencryptedPayloadMarker } from './unencrypted-payload';

/**
 * AES-256-GCM payload codec. Every payload (workflow inputs, signals, results, memo, failures) is
 * serialised, then encrypted, before it leaves this process, so the Temporal server and its
 * database hold no readable PHI. The key ID travels in the payload metadata, so keys can be
 * rotated: new payloads use the first key, old histories still decode with the retired ones.
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const METADATA_KEY_ID = 'encryption-key-id';

/** AES-GCM's recommended 96-bit nonce; random per payload (2^32 payloads per key stays far below collision risk). */
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/**
 * Key IDs travel unencrypted in every payload's metadata (and so sit in the Temporal database and
 * UI), so they are restricted to short plain tokens: a name or a date, never anything else.
 */
const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export interface CodecKey {
  id: string;
  key: Buffer;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const fromUtf8 = (b: Uint8Array) => new TextDecoder().decode(b);

/** Parse `id:base64,id2:base64` (first = active). Throws naming the bad entry, never echoing key material. */
export function parseCodecKeys(raw: string): CodecKey[] {
  const keys = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, index) => {
      const sep = entry.indexOf(':');
      if (sep <= 0) throw new Error(`codec key #${index + 1} is not keyId:base64key`);
      const id = entry.slice(0, sep);
      if (!KEY_ID_PATTERN.test(id))
        throw new Error(`codec key #${index + 1}: the key ID must be 1-64 letters, digits, '.', '_' or '-'`);
      const key = Buffer.from(entry.slice(sep + 1), 'base64');
      if (key.length !== KEY_BYTES) throw new Error(`codec key "${id}" must decode to ${KEY_BYTES} bytes`);
      return { id, key };
    });
  if (keys.length === 0) throw new Error('no codec keys given');
  const ids = new Set(keys.map((k) => k.id));
  if (ids.size !== keys.length) throw new Error('codec key IDs must be unique');
  return keys;
}

/** A fresh `id:base64` entry for LABLOOP_CODEC_KEYS (sandbox, tests, key rotation). */
export function generateCodecKey(id: string): string {
  if (!KEY_ID_PATTERN.test(id)) throw new Error(`codec key ID "${id}" must be 1-64 letters, digits, '.', '_' or '-'`);
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

export interface EncryptionCodecOptions {
  /**
   * The worker's setting: a payload that arrives unencrypted is not passed on but replaced by the
   * unencrypted-payload marker (its content dropped), which the payload converter and the workflow
   * interceptor refuse by name (lib/temporal/unencrypted-payload.ts). Off for clients and the codec
   * endpoint, which read what the worker wrote.
   */
  requireEncryption?: boolean;
}

/**
 * Encrypts with the first key; decrypts with whichever configured key the payload names. Payloads
 * that are not encrypted pass through decode unchanged, unless `requireEncryption` is set (the
 * worker). Every failure is a ValueError that names the key ID and never the content.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly active: CodecKey;
  private readonly byId: Map<string, Buffer>;
  private readonly requireEncryption: boolean;

  constructor(keys: CodecKey[], options: EncryptionCodecOptions = {}) {
    this.requireEncryption = options.requireEncryption ?? false;
    const [active] = keys;
    if (active === undefined) throw new Error('EncryptionCodec needs at least one key');
    this.active = active;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    // A Promise API: every failure must reach the caller as a rejection, never a synchronous throw.
    return new Promise((resolve) => resolve(payloads.map((payload) => this.encrypt(payload))));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return new Promise((resolve) => resolve(payloads.map((payload) => this.decrypt(payload))));
  }

  private encrypt(payload: Payload): Payload {
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.active.key, iv);
    // Binding the key ID as associated data means a swapped key-id header fails authentication.
    cipher.setAAD(utf8(this.active.id));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING),
        [METADATA_KEY_ID]: utf8(this.active.id),
      },
      data: Buffer.concat([iv, body, cipher.getAuthTag()]),
    };
  }

  private decrypt(payload: Payload): Payload {
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    if (encoding === undefined || encoding === null || fromUtf8(encoding) !== ENCRYPTED_ENCODING) {
      return this.requireEncryption ? unencryptedPayloadMarker() : payload;
    }
    const keyIdBytes = payload.metadata?.[METADATA_KEY_ID];
    if (keyIdBytes === undefined || keyIdBytes === null) throw new ValueError('encrypted payload has no key ID');
    const keyId = fromUtf8(keyIdBytes);
    const key = this.byId.get(keyId);
    if (key === undefined)
      throw new ValueError(
        `no codec key with ID "${keyId}" (configured: ${[...this.byId.keys()].join(', ')}); ` +
          'add it to LABLOOP_CODEC_KEYS after the active key to read payloads it encrypted',
      );
    const data = payload.data;
    if (data === undefined || data === null || data.length < IV_BYTES + TAG_BYTES) {
      throw new ValueError('encrypted payload is truncated');
    }
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAAD(utf8(keyId));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      // GCM says only "unable to authenticate data"; say what that means for an operator.
      throw new ValueError(
        `encrypted payload failed authentication with key "${keyId}": it was altered, or its key-id metadata is wrong`,
      );
    }
    return temporal.api.common.v1.Payload.decode(plain);
  }
}
