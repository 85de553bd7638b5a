import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isAmbiguousEasternTime, planRefetchWindows, REFETCH_CHUNK_MS, REFETCH_MARGIN_MS } from '../../lib/athena-feed';
import { formatAthenaEasternDateTime } from '../../lib/clients/athena';

/**
 * The changed-feed refetch windows: together they cover everything processed since the checkpoint
 * (with a margin on both sides), no window is longer than athena's "short window" chunk unless it
 * had to be widened over the autumn repeated hour, and a window end athena cannot place exactly
 * (01:00–02:00 on the fall-back day) is widened so either reading of it covers the span.
 */

const HOUR = 60 * 60_000;

void describe('athena changed-feed refetch windows', () => {
  void it('covers [checkpoint − margin, now + margin] in order, in chunks no longer than the chunk size', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2024-01-01T00:00:00Z'), max: new Date('2030-12-31T00:00:00Z'), noInvalidDate: true }),
        fc.integer({ min: 0, max: 6 * HOUR }),
        (from, gap) => {
          const now = new Date(from.getTime() + gap);
          const windows = planRefetchWindows({ from, now });
          const first = windows[0];
          const last = windows.at(-1);
          assert.ok(first !== undefined && last !== undefined);
          assert.ok(first.start.getTime() <= from.getTime() - REFETCH_MARGIN_MS);
          assert.ok(last.end.getTime() >= now.getTime() + REFETCH_MARGIN_MS);
          for (const [i, w] of windows.entries()) {
            assert.ok(w.start < w.end);
            const widened =
              isAmbiguousEasternTime(w.start) ||
              isAmbiguousEasternTime(w.end) ||
              isAmbiguousEasternTime(new Date(w.start.getTime() + HOUR)) ||
              isAmbiguousEasternTime(new Date(w.end.getTime() - HOUR));
            if (!widened) assert.ok(w.end.getTime() - w.start.getTime() <= REFETCH_CHUNK_MS);
            const next = windows[i + 1];
            // Consecutive windows leave no gap.
            if (next !== undefined) assert.ok(next.start.getTime() <= w.end.getTime());
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  void it('widens a window whose end falls in the repeated autumn hour, so athena reading it as EDT still covers it', () => {
    // 2024-11-03 01:10–01:25 EST (the second 01:xx) is 06:10–06:25Z; athena reads "01:25" as EDT (05:25Z).
    const from = new Date('2024-11-03T06:12:00Z');
    const now = new Date('2024-11-03T06:20:00Z');
    assert.equal(isAmbiguousEasternTime(now), true);
    const windows = planRefetchWindows({ from, now });
    const covering = windows.find((w) => w.end.getTime() >= now.getTime() + REFETCH_MARGIN_MS);
    assert.ok(covering !== undefined);
    // Whichever offset athena picks for the formatted end, the instant it means is not before now + margin.
    const endText = formatAthenaEasternDateTime(covering.end);
    assert.match(endText, /^11\/03\/2024 0[23]:/);
    assert.ok(covering.start.getTime() <= from.getTime() - REFETCH_MARGIN_MS - HOUR);
  });

  void it('leaves ordinary windows alone and refuses a non-positive chunk', () => {
    const windows = planRefetchWindows({
      from: new Date('2024-07-04T15:00:00Z'),
      now: new Date('2024-07-04T15:01:00Z'),
    });
    assert.equal(windows.length, 1);
    assert.equal(windows[0]?.end.getTime(), new Date('2024-07-04T15:01:00Z').getTime() + REFETCH_MARGIN_MS);
    assert.throws(() => planRefetchWindows({ from: new Date(), now: new Date(), chunkMs: 0 }), /chunkMs/);
  });
});
