import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { frameMllp, MllpFramer, type MllpEvent } from '../../api/mllp';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

function feed(framer: MllpFramer, chunks: Buffer[]): MllpEvent[] {
  return chunks.flatMap((chunk) => framer.push(chunk));
}

function frames(events: MllpEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'frame' ? [e.payload.toString('latin1')] : []));
}

/** Cuts `bytes` at the given offsets (any order, duplicates allowed). */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}

/** A payload: any bytes except VT, and never FS immediately followed by CR (that would end it). */
const payload = fc
  .uint8Array({ maxLength: 120 })
  .map((a) => Buffer.from(a.filter((b) => b !== VT)))
  .filter((b) => !b.includes(Buffer.of(FS, CR)));

/** Bytes between frames that can never start one. */
const noise = fc.uint8Array({ maxLength: 10 }).map((a) => Buffer.from(a.filter((b) => b !== VT)));

void describe('MllpFramer', () => {
  void it('reads one frame', () => {
    const events = new MllpFramer(1024).push(frameMllp('MSH|^~\\&|A'));
    assert.deepEqual(frames(events), ['MSH|^~\\&|A']);
    assert.equal(events.length, 1);
  });

  void it('reads several frames from one chunk, in order', () => {
    const events = new MllpFramer(1024).push(Buffer.concat([frameMllp('one'), frameMllp('two'), frameMllp('three')]));
    assert.deepEqual(frames(events), ['one', 'two', 'three']);
  });

  void it('waits when FS and CR arrive in different chunks', () => {
    const framer = new MllpFramer(1024);
    assert.deepEqual(framer.push(Buffer.from('\x0bhello\x1c')), []);
    assert.deepEqual(frames(framer.push(Buffer.from('\r'))), ['hello']);
  });

  void it('delivers a frame fed one byte at a time', () => {
    const framer = new MllpFramer(1024);
    const bytes = frameMllp('MSH|^~\\&|byte by byte\rPID|1');
    const events = feed(
      framer,
      [...bytes].map((b) => Buffer.of(b)),
    );
    assert.deepEqual(frames(events), ['MSH|^~\\&|byte by byte\rPID|1']);
  });

  void it('treats FS not followed by CR as data', () => {
    const events = new MllpFramer(1024).push(Buffer.from('\x0ba\x1cb\x1c\x1c\r'));
    assert.deepEqual(frames(events), ['a\x1cb\x1c']);
  });

  void it('reports bytes outside frames as garbage without losing frames', () => {
    const framer = new MllpFramer(1024);
    const events = framer.push(
      Buffer.concat([Buffer.from('\r\n'), frameMllp('x'), Buffer.from('junk'), frameMllp('y')]),
    );
    assert.deepEqual(events, [
      { type: 'garbage', bytes: 2 },
      { type: 'frame', payload: Buffer.from('x') },
      { type: 'garbage', bytes: 4 },
      { type: 'frame', payload: Buffer.from('y') },
    ]);
  });

  void it('abandons a frame interrupted by a new start block', () => {
    const events = new MllpFramer(1024).push(Buffer.from('\x0bpartial\x0bwhole\x1c\r'));
    assert.deepEqual(events, [
      { type: 'garbage', bytes: 7 },
      { type: 'frame', payload: Buffer.from('whole') },
    ]);
  });

  void it('drops an oversized frame, reports it once, and keeps reading', () => {
    const framer = new MllpFramer(10);
    const big = 'x'.repeat(25);
    const events = feed(framer, chunked(Buffer.concat([frameMllp(big), frameMllp('ok')]), [3, 9, 14, 20, 27]));
    assert.deepEqual(events, [
      { type: 'oversize', bytes: 25 },
      { type: 'frame', payload: Buffer.from('ok') },
    ]);
  });

  void it('accepts a frame of exactly maxFrameBytes', () => {
    assert.deepEqual(frames(new MllpFramer(5).push(frameMllp('12345'))), ['12345']);
    assert.equal(new MllpFramer(5).push(frameMllp('123456'))[0]?.type, 'oversize');
  });

  void it('refuses a limit that is not a positive integer', () => {
    assert.throws(() => new MllpFramer(0), /maxFrameBytes/);
  });

  void it('property: any chunking of any frames and noise yields exactly those frames', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(noise, payload), { maxLength: 8 }),
        noise,
        fc.array(fc.nat(), { maxLength: 30 }),
        (parts, trailing, cuts) => {
          const stream = Buffer.concat([...parts.flatMap(([n, p]) => [n, frameMllp(p)]), trailing]);
          const events = feed(new MllpFramer(1024), chunked(stream, cuts));
          assert.deepEqual(
            events.filter((e) => e.type === 'frame').map((e) => e.payload),
            parts.map(([, p]) => p),
          );
          const garbage = events.reduce((sum, e) => sum + (e.type === 'garbage' ? e.bytes : 0), 0);
          assert.equal(garbage, parts.reduce((sum, [n]) => sum + n.length, 0) + trailing.length);
          assert.ok(!events.some((e) => e.type === 'oversize'));
        },
      ),
      { numRuns: 500 },
    );
  });

  void it('property: memory stays within the bound and every frame is either delivered or reported', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(payload, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (max, payloads, cuts) => {
          const framer = new MllpFramer(max);
          const events: MllpEvent[] = [];
          for (const chunk of chunked(Buffer.concat(payloads.map((p) => frameMllp(p))), cuts)) {
            events.push(...framer.push(chunk));
            assert.ok(framer.bufferedBytes <= max, `buffered ${framer.bufferedBytes} > ${max}`);
          }
          const expected = payloads.map((p): MllpEvent =>
            p.length > max ? { type: 'oversize', bytes: p.length } : { type: 'frame', payload: p },
          );
          assert.deepEqual(events, expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});
