import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { METADATA_ENCODING_KEY, ValueError, type Payload } from '@temporalio/common';
import {
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  METADATA_KEY_ID,
  generateCodecKey,
  parseCodecKeys,
} from '../../lib/temporal/encryption-codec';

/**
 * The AES-256-GCM payload codec: round trips, tamper detection in every part of the ciphertext and
 * of the key-id metadata, key rotation, and that nothing readable is left in an encoded payload.
 */

const OLD = generateCodecKey('key-2025');
const NEW = generateCodecKey('key-2026');
const OTHER = generateCodecKey('key-2025-other');
const IV_BYTES = 12;
const TAG_BYTES = 16;

const codec = (...entries: string[]) => new EncryptionCodec(parseCodecKeys(entries.join(',')));
const utf8 = (s: string) => Buffer.from(s, 'utf8');
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');

const payloadArb: fc.Arbitrary<Payload> = fc.record({
  metadata: fc.dictionary(
    fc.string({ minLength: 1, maxLength: 20 }),
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    { maxKeys: 4 },
  ),
  data: fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
});

/** Payloads compared as plain data (Buffers and Uint8Arrays with the same bytes are equal). */
function plain(p: Payload): { metadata: Record<string, string>; data: string } {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = Buffer.from(v ?? []).toString('hex');
  return { metadata, data: Buffer.from(p.data ?? []).toString('hex') };
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ValueError, `expected a ValueError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('EncryptionCodec', () => {
  it('round-trips any payloads (property)', async () => {
    const c = codec(NEW, OLD);
    await fc.assert(
      fc.asyncProperty(fc.array(payloadArb, { maxLength: 5 }), async (payloads) => {
        const decoded = await c.decode(await c.encode(payloads));
        assert.deepEqual(decoded.map(plain), payloads.map(plain));
      }),
      { numRuns: 200 },
    );
  });

  it('leaves only the encoding and the key ID readable, and uses a fresh IV every time (property)', async () => {
    const c = codec(NEW);
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 8, maxLength: 200 }), async (secret) => {
        const payload: Payload = { metadata: { encoding: utf8('json/plain') }, data: utf8(JSON.stringify(secret)) };
        const [a, b] = await c.encode([payload, payload]);
        assert.ok(a !== undefined && b !== undefined);
        assert.deepEqual(Object.keys(a.metadata ?? {}).sort(), [METADATA_ENCODING_KEY, METADATA_KEY_ID].sort());
        assert.equal(text(a.metadata?.[METADATA_ENCODING_KEY]), ENCRYPTED_ENCODING);
        assert.equal(text(a.metadata?.[METADATA_KEY_ID]), 'key-2026');
        // Neither the value nor the inner encoding name survives in the ciphertext.
        assert.ok(!Buffer.from(a.data ?? []).includes(utf8(secret)));
        assert.ok(!Buffer.from(a.data ?? []).includes(utf8('json/plain')));
        assert.notDeepEqual(
          Buffer.from(a.data ?? []),
          Buffer.from(b.data ?? []),
          'same plaintext, different ciphertext',
        );
      }),
      { numRuns: 100 },
    );
  });

  it('detects a change to any byte of the IV, the ciphertext or the tag (property)', async () => {
    const c = codec(NEW);
    await fc.assert(
      fc.asyncProperty(payloadArb, fc.nat(), fc.integer({ min: 1, max: 255 }), async (payload, position, flip) => {
        const [encoded] = await c.encode([payload]);
        assert.ok(encoded !== undefined);
        const data = Buffer.from(encoded.data ?? []);
        const index = position % data.length;
        data[index] = (data[index] ?? 0) ^ flip;
        const part = index < IV_BYTES ? 'IV' : index >= data.length - TAG_BYTES ? 'tag' : 'ciphertext';
        await rejectsWith(c.decode([{ ...encoded, data }]), /failed authentication with key "key-2026"/).catch(
          (err: unknown) => {
            throw new Error(`a flipped ${part} byte at ${index} was not detected: ${String(err)}`);
          },
        );
      }),
      { numRuns: 200 },
    );
  });

  it('detects truncation and extension of the data', async () => {
    const c = codec(NEW);
    const [encoded] = await c.encode([{ metadata: {}, data: utf8('{"name":"Ottoline"}') }]);
    assert.ok(encoded !== undefined);
    const data = Buffer.from(encoded.data ?? []);
    await rejectsWith(c.decode([{ ...encoded, data: data.subarray(0, data.length - 1) }]), /failed authentication/);
    await rejectsWith(
      c.decode([{ ...encoded, data: Buffer.concat([data, Buffer.from([0])]) }]),
      /failed authentication/,
    );
    await rejectsWith(c.decode([{ ...encoded, data: data.subarray(0, IV_BYTES + TAG_BYTES - 1) }]), /truncated/);
  });

  it('refuses a payload whose key-id metadata was changed, even to another configured key', async () => {
    // Both keys configured: swapping the ID must still fail (the ID is bound as associated data).
    const c = codec(NEW, OLD);
    await fc.assert(
      fc.asyncProperty(payloadArb, async (payload) => {
        const [encoded] = await c.encode([payload]);
        assert.ok(encoded !== undefined);
        const swapped = { ...encoded, metadata: { ...encoded.metadata, [METADATA_KEY_ID]: utf8('key-2025') } };
        await rejectsWith(c.decode([swapped]), /failed authentication with key "key-2025"/);
      }),
      { numRuns: 50 },
    );
    // Same ID, different key material (a key replaced under an old name): also refused.
    const [encoded] = await codec(OLD).encode([{ metadata: {}, data: utf8('x') }]);
    assert.ok(encoded !== undefined);
    const impostor = generateCodecKey('key-2025');
    await rejectsWith(codec(impostor).decode([encoded]), /failed authentication with key "key-2025"/);
    // A missing key-id header.
    const { [METADATA_KEY_ID]: _dropped, ...withoutId } = encoded.metadata ?? {};
    await rejectsWith(codec(OLD).decode([{ ...encoded, metadata: withoutId }]), /no key ID/);
  });

  it('rotates: payloads written with the old key decode once it is listed second; new ones use the new key', async () => {
    const before = codec(OLD);
    const after = codec(NEW, OLD);
    const original: Payload = { metadata: { encoding: utf8('json/plain') }, data: utf8('{"v":1}') };
    const [old] = await before.encode([original]);
    assert.ok(old !== undefined);
    assert.deepEqual((await after.decode([old])).map(plain), [plain(original)]);
    const [fresh] = await after.encode([original]);
    assert.equal(text(fresh?.metadata?.[METADATA_KEY_ID]), 'key-2026');
    // A process that was not given the new key says which key it lacks.
    await rejectsWith(before.decode([fresh]), /no codec key with ID "key-2026"/);
    await rejectsWith(codec(OTHER).decode([old]), /no codec key with ID "key-2025"/);
  });

  it('passes unencrypted payloads through decode unchanged', async () => {
    const c = codec(NEW);
    const payload: Payload = { metadata: { encoding: utf8('json/plain') }, data: utf8('"visible"') };
    assert.deepEqual((await c.decode([payload])).map(plain), [plain(payload)]);
  });

  it('parses key lists strictly, naming the bad entry and never echoing key material', () => {
    const material = Buffer.alloc(32, 7).toString('base64');
    assert.throws(() => parseCodecKeys(''), /no codec keys/);
    assert.throws(() => parseCodecKeys('nocolon'), /codec key #1 is not keyId:base64key/);
    assert.throws(
      () => parseCodecKeys(`a:${Buffer.alloc(16).toString('base64')}`),
      /codec key "a" must decode to 32 bytes/,
    );
    assert.throws(() => parseCodecKeys(`a:${material},a:${material}`), /unique/);
    assert.throws(
      () => parseCodecKeys(`has space:${material}`),
      (err: Error) => /codec key #1: the key ID must be/.test(err.message) && !err.message.includes(material),
    );
    assert.deepEqual(
      parseCodecKeys(`k1:${material}, k2:${material}`).map((k) => k.id),
      ['k1', 'k2'],
    );
  });
});
