/**
 * MLLP (HL7 v2.5.1 Appendix C) framing: VT (0x0B) + payload + FS (0x1C) + CR (0x0D). TCP gives us
 * bytes in arbitrary pieces, so the framer is a byte-level state machine that survives any split
 * (even between FS and CR) and any number of frames per read, and never buffers more than
 * `maxFrameBytes` of one payload.
 */

export const MLLP_START_BLOCK = 0x0b;
export const MLLP_END_BLOCK = 0x1c;
export const MLLP_CARRIAGE_RETURN = 0x0d;

export type MllpEvent =
  | { type: 'frame'; payload: Buffer }
  /** A frame longer than the limit ended; `bytes` is its payload length. Its bytes were dropped. */
  | { type: 'oversize'; bytes: number }
  /** Bytes outside any frame (or a frame abandoned by a new start block) were dropped. */
  | { type: 'garbage'; bytes: number };

/** Wraps a payload in an MLLP frame. */
export function frameMllp(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([Buffer.of(MLLP_START_BLOCK), body, Buffer.of(MLLP_END_BLOCK, MLLP_CARRIAGE_RETURN)]);
}

export class MllpFramer {
  private inFrame = false;
  /** The previous byte of the frame was FS: a CR now ends the frame, anything else makes FS data. */
  private pendingEndBlock = false;
  private parts: Buffer[] = [];
  private size = 0;
  private oversize = false;
  private garbage = 0;

  /** @param maxFrameBytes - largest payload kept; a larger frame is counted, dropped and reported. */
  constructor(readonly maxFrameBytes: number) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1)
      throw new Error('maxFrameBytes must be a positive integer');
  }

  /** Payload bytes currently held for an unfinished frame (never more than `maxFrameBytes`). */
  get bufferedBytes(): number {
    return this.oversize ? 0 : this.size;
  }

  /** Feeds the next chunk of the stream; returns what completed in it, in stream order. */
  push(chunk: Buffer): MllpEvent[] {
    const events: MllpEvent[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (!this.inFrame) {
        const start = chunk.indexOf(MLLP_START_BLOCK, pos);
        this.garbage += (start < 0 ? chunk.length : start) - pos;
        if (start < 0) break;
        this.flushGarbage(events);
        this.inFrame = true;
        pos = start + 1;
        continue;
      }
      if (this.pendingEndBlock) {
        this.pendingEndBlock = false;
        if (chunk[pos] === MLLP_CARRIAGE_RETURN) {
          events.push(this.finishFrame());
          pos += 1;
          continue;
        }
        // FS without CR is not an end: it was part of the payload after all.
        this.append(Buffer.of(MLLP_END_BLOCK));
      }
      const next = nextDelimiter(chunk, pos);
      if (next < 0) {
        this.append(chunk.subarray(pos));
        break;
      }
      if (chunk[next] === MLLP_START_BLOCK) {
        // A new start block inside a frame: the sender gave up on the old frame and began again.
        this.garbage += this.size + (next - pos);
        this.resetFrame();
        this.flushGarbage(events);
        pos = next + 1;
        continue;
      }
      this.append(chunk.subarray(pos, next));
      this.pendingEndBlock = true;
      pos = next + 1;
    }
    this.flushGarbage(events);
    return events;
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (!this.oversize && this.size + bytes.length > this.maxFrameBytes) {
      this.oversize = true;
      this.parts = [];
    }
    // Copied, so a large socket read is not kept alive by a small slice of it.
    if (!this.oversize) this.parts.push(Buffer.from(bytes));
    this.size += bytes.length;
  }

  private finishFrame(): MllpEvent {
    const event: MllpEvent = this.oversize
      ? { type: 'oversize', bytes: this.size }
      : { type: 'frame', payload: Buffer.concat(this.parts, this.size) };
    this.resetFrame();
    this.inFrame = false;
    return event;
  }

  private resetFrame(): void {
    this.parts = [];
    this.size = 0;
    this.oversize = false;
    this.pendingEndBlock = false;
  }

  private flushGarbage(events: MllpEvent[]): void {
    if (this.garbage > 0) events.push({ type: 'garbage', bytes: this.garbage });
    this.garbage = 0;
  }
}

/** Index of the next FS or VT at or after `from`, or -1. */
function nextDelimiter(chunk: Buffer, from: number): number {
  const end = chunk.indexOf(MLLP_END_BLOCK, from);
  const start = chunk.indexOf(MLLP_START_BLOCK, from);
  if (end < 0) return start;
  if (start < 0) return end;
  return Math.min(end, start);
}
