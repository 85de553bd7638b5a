import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import type { temporal } from '@temporalio/proto';
import { createWorkerDataConverter, WORKFLOW_BUNDLE_OPTIONS } from '../../lib/temporal/data-converter';
import { installQuietRuntime, workflowBundle } from '../support/temporal';
import { REPLAY_CODEC_KEYS } from './replay-codec-key';
import { SCENARIOS } from './scenarios';

/**
 * Determinism gate: every committed history (one per workflow path, recorded by
 * scripts/record-histories.ts) must replay against the current workflow code without a
 * determinism error. A change to the workflow that would break running workflows fails here;
 * such a change needs `patched()` (and re-recorded fixtures only once old runs are gone).
 *
 * The histories are exactly the scenarios of scenarios.ts, one file each: a scenario added
 * without recording it, or a history left over from a removed one, fails. Regenerate them all
 * with `npx tsx scripts/record-histories.ts` (see scenarios.ts).
 */

const HISTORY_DIR = path.join(__dirname, 'histories');

interface Fixture {
  scenario: string;
  workflowId: string;
  history: temporal.api.history.v1.IHistory;
  /** Earlier runs of the same workflow ID, oldest first (a result that came back after its workflow closed). */
  earlierRuns: temporal.api.history.v1.IHistory[];
}

function loadFixtures(): Fixture[] {
  return readdirSync(HISTORY_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const raw = JSON.parse(readFileSync(path.join(HISTORY_DIR, f), 'utf8')) as {
        scenario: string;
        workflowId: string;
        history: unknown;
        earlierRuns?: unknown[];
      };
      return {
        scenario: raw.scenario,
        workflowId: raw.workflowId,
        history: historyFromJSON(raw.history),
        earlierRuns: (raw.earlierRuns ?? []).map((h) => historyFromJSON(h)),
      };
    });
}

describe('replay of committed histories', () => {
  let fixtures: Fixture[];
  let current: WorkflowBundleWithSourceMap;
  before(async () => {
    installQuietRuntime();
    fixtures = loadFixtures();
    current = await workflowBundle();
  });
  after(() => undefined);

  it('has exactly one history per scenario (npx tsx scripts/record-histories.ts records them)', () => {
    const files = readdirSync(HISTORY_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
      .sort();
    const names = SCENARIOS.map((s) => s.name).sort();
    assert.equal(new Set(names).size, names.length, 'scenario names are unique');
    assert.deepEqual(files, names, `histories in ${HISTORY_DIR} vs SCENARIOS in scenarios.ts`);
    for (const f of fixtures) {
      assert.ok(names.includes(f.scenario), `${f.scenario}: the file says it records a scenario that does not exist`);
    }
  });

  it('replays every history against the current workflow code', async () => {
    const failures: string[] = [];
    let replayed = 0;
    const histories = fixtures.flatMap((f) =>
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
        const scenario = fixtures.find((f) => f.workflowId === result.workflowId)?.scenario ?? result.workflowId;
        failures.push(`${scenario}: ${result.error.name}: ${result.error.message}`);
      }
    }
    assert.equal(replayed, histories.length);
    assert.deepEqual(failures, []);
  });

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
