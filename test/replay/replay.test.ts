import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import type { temporal } from '@temporalio/proto';
import { createWorkerDataConverter, WORKFLOW_BUNDLE_OPTIONS } from '../../lib/temporal/data-converter';
import { PATCH_IDS } from '../../workflows/patches';
import { installQuietRuntime, workflowBundle } from '../support/temporal';
import { digestOf, historyFiles, historySets, newestSet, type HistorySet } from './history-sets';
import { REPLAY_CODEC_KEYS } from './replay-codec-key';
import { SCENARIOS } from './scenarios';

/**
 * Determinism gate: every committed history, of every code version (history-sets.ts), must replay
 * against the current workflow code without a determinism error. A change to the workflow that
 * would break running workflows fails here; such a change ships behind a patch (workflows/patches.ts)
 * and adds histories recorded by the new code to a new set, next to the old ones, which are never
 * re-recorded (docs/workflow.md, "Shipping a workflow change").
 *
 * Every scenario of scenarios.ts has a history in some set (record a new one with
 * `npx tsx scripts/record-histories.ts <name>`); every history names the scenario it recorded.
 */

interface Fixture {
  set: string;
  scenario: string;
  workflowId: string;
  history: temporal.api.history.v1.IHistory;
  /** Earlier runs of the same workflow ID, oldest first (a result that came back after its workflow closed). */
  earlierRuns: temporal.api.history.v1.IHistory[];
}

function loadFixtures(set: HistorySet): Fixture[] {
  return historyFiles(set).map((f) => {
    const raw = JSON.parse(readFileSync(path.join(set.dir, f), 'utf8')) as {
      scenario: string;
      workflowId: string;
      history: unknown;
      earlierRuns?: unknown[];
    };
    return {
      set: set.name,
      scenario: raw.scenario,
      workflowId: raw.workflowId,
      history: historyFromJSON(raw.history),
      earlierRuns: (raw.earlierRuns ?? []).map((h) => historyFromJSON(h)),
    };
  });
}

/** The patch IDs a history's marker events name (workflow.patched writes one per patch). */
function patchMarkersOf(history: temporal.api.history.v1.IHistory): string[] {
  const ids = new Set<string>();
  for (const event of history.events ?? []) {
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') continue;
    const payload = marker.details?.['patch-data']?.payloads?.[0];
    if (payload?.data == null) continue;
    const data = JSON.parse(Buffer.from(payload.data).toString('utf8')) as { id?: string };
    if (typeof data.id === 'string') ids.add(data.id);
  }
  return [...ids].sort();
}

describe('replay of committed histories', () => {
  // Read while the suite is declared: one replay test per set.
  const sets: HistorySet[] = historySets();
  const fixtures: Fixture[] = sets.flatMap(loadFixtures);
  let current: WorkflowBundleWithSourceMap;
  before(async () => {
    installQuietRuntime();
    current = await workflowBundle();
  });
  after(() => undefined);

  it('keeps every set exactly as its manifest says (histories are added, never re-recorded)', () => {
    assert.ok(sets.length >= 2, `history sets: ${sets.map((s) => s.name).join(', ')}`);
    for (const set of sets) {
      const files = historyFiles(set);
      assert.deepEqual(files, Object.keys(set.manifest.files).sort(), `${set.name}: files vs manifest`);
      for (const f of files) {
        assert.equal(
          digestOf(path.join(set.dir, f)),
          set.manifest.files[f],
          `${set.name}/${f} changed after it was recorded`,
        );
      }
    }
  });

  it("records into a set whose patches are the current code's, and every set was recorded with its own patches", () => {
    assert.deepEqual(
      [...newestSet().manifest.patches].sort(),
      Object.values(PATCH_IDS).sort(),
      'start a new set for a new patch',
    );
    for (const set of sets) {
      const expected = [...set.manifest.patches].sort();
      for (const f of fixtures.filter((x) => x.set === set.name)) {
        for (const history of [...f.earlierRuns, f.history]) {
          // A run recorded by older code has no marker of a newer patch, so it replays the old path.
          assert.deepEqual(patchMarkersOf(history), expected, `${set.name}/${f.scenario}: patch markers`);
        }
      }
    }
  });

  it('has a history for every scenario, and each names its file (npx tsx scripts/record-histories.ts)', () => {
    const names = SCENARIOS.map((s) => s.name);
    assert.equal(new Set(names).size, names.length, 'scenario names are unique');
    for (const set of sets) {
      for (const f of historyFiles(set)) {
        const fixture = fixtures.find((x) => x.set === set.name && `${x.scenario}.json` === f);
        assert.ok(fixture !== undefined, `${set.name}/${f}: the file records another scenario than its name says`);
      }
    }
    const recorded = new Set(fixtures.map((f) => f.scenario));
    assert.deepEqual(
      names.filter((n) => !recorded.has(n)),
      [],
      'scenarios without a history: record them into the newest set',
    );
  });

  for (const set of sets) {
    it(`replays every history of ${set.name} (${set.manifest.patches.length} patches) against the current workflow code`, async () => {
      const failures: string[] = [];
      let replayed = 0;
      const chosen = fixtures.filter((f) => f.set === set.name);
      assert.ok(chosen.length > 0, `${set.name} has histories`);
      const histories = chosen.flatMap((f) =>
        [...f.earlierRuns, f.history].map((history) => ({ workflowId: f.workflowId, history })),
      );
      for await (const result of Worker.runReplayHistories(
        {
          workflowBundle: current,
          dataConverter: createWorkerDataConverter(REPLAY_CODEC_KEYS),
          replayName: 'labloop-replay',
        },
        histories,
      )) {
        replayed += 1;
        if (result.error !== undefined) {
          const scenario = chosen.find((f) => f.workflowId === result.workflowId)?.scenario ?? result.workflowId;
          failures.push(`${set.name}/${scenario}: ${result.error.name}: ${result.error.message}`);
        }
      }
      assert.equal(replayed, histories.length);
      assert.deepEqual(failures, []);
    });
  }

  it('keeps both runs of a result that came back after its workflow closed', () => {
    const continued = fixtures.filter((f) => f.earlierRuns.length > 0).map((f) => f.scenario);
    assert.ok(continued.includes('new-run-after-close-correction'), `multi-run fixtures: ${continued.join(', ')}`);
  });

  it('fails with a determinism error when the workflow changes without versioning', async () => {
    const changed = await bundleWorkflowCode({
      workflowsPath: require.resolve('./nondeterministic-workflow'),
      ...WORKFLOW_BUNDLE_OPTIONS,
      logger: new DefaultLogger('WARN'),
    });
    const fixture = fixtures.find((f) => f.scenario === 'normal-sms-and-portal') ?? fixtures[0];
    await assert.rejects(
      Worker.runReplayHistory(
        {
          workflowBundle: changed,
          dataConverter: createWorkerDataConverter(REPLAY_CODEC_KEYS),
          replayName: 'labloop-replay-changed',
        },
        fixture.history,
        fixture.workflowId,
      ),
      (err: unknown) => err instanceof DeterminismViolationError,
    );
  });
});
