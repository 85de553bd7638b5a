import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { EncryptionCodec, generateCodecKey, parseCodecKeys } from '../../lib/temporal/encryption-codec';
import { payloadConverter } from '../../lib/temporal/payload-converter';
import { isUnencryptedPayloadMarker, UNENCRYPTED_PAYLOAD_ERROR } from '../../lib/temporal/unencrypted-payload';

/**
 * The worker's side of "payloads are encrypted before they reach Temporal": its codec turns a
 * payload that arrives unencrypted into a marker without the content, and the payload converter
 * refuses the marker by name. Clients and the codec endpoint keep reading plaintext (no marker).
 */
const keys = parseCodecKeys(generateCodecKey('unit-1'));
const worker = new EncryptionCodec(keys, { requireEncryption: true });
const client = new EncryptionCodec(keys);
const PHI = { name: 'Ottoline Quillfeather', potassium: '6.91' };

describe('unencrypted payloads at the worker', () => {
  it('the worker codec replaces a plaintext payload with the marker and drops its content', async () => {
    const [decoded] = await worker.decode([defaultPayloadConverter.toPayload(PHI)]);
    assert.ok(isUnencryptedPayloadMarker(decoded));
    assert.equal(decoded?.data, undefined, 'no plaintext goes on to the workflow');
    assert.ok(!JSON.stringify(decoded).includes('Quillfeather'));
  });

  it('decrypts what labloop encrypted, as before', async () => {
    const decoded = await worker.decode(await client.encode([defaultPayloadConverter.toPayload(PHI)]));
    assert.deepEqual(
      decoded.map((p) => payloadConverter.fromPayload(p)),
      [PHI],
    );
  });

  it('clients keep passing plaintext through (no marker)', async () => {
    const [decoded] = await client.decode([defaultPayloadConverter.toPayload('not secret')]);
    assert.ok(!isUnencryptedPayloadMarker(decoded));
    assert.equal(payloadConverter.fromPayload(decoded), 'not secret');
  });

  it('the payload converter refuses the marker with a named, non-retryable failure', async () => {
    const [marker] = await worker.decode([defaultPayloadConverter.toPayload(PHI)]);
    assert.throws(
      () => payloadConverter.fromPayload(marker),
      (err: unknown) =>
        err instanceof ApplicationFailure && err.type === UNENCRYPTED_PAYLOAD_ERROR && err.nonRetryable === true,
    );
    // It never serialises anything itself: values still become JSON.
    assert.deepEqual(payloadConverter.fromPayload(payloadConverter.toPayload(PHI)), PHI);
  });
});
