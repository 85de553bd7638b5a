import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TEST_CODEC_KEYS } from '../support/temporal';
import { WorkflowHarness, type LabHandle } from '../workflows/support/harness';
import { addToManifest, historyFiles, historySets, newestSet } from './history-sets';
import { REPLAY_CODEC_KEYS } from './replay-codec-key';
import { SCENARIOS } from './scenarios';

/**
 * Records replay histories (run through scripts/record-histories.ts, which sets the codec key) into
 * the newest history set (history-sets.ts) and adds each to that set's manifest. Histories are added,
 * never re-recorded: a scenario that already has a history in the newest set is refused, and older
 * sets are never written. Arguments choose scenarios by name (substring); without arguments, every
 * scenario that has no history in any set yet. Each scenario runs on a time-skipping server; a
 * scenario that spans several runs of one workflow ID (closed, then continued) returns every run's
 * handle, and the earlier runs' histories go into the same file (`earlierRuns`).
 */
async function main(): Promise<void> {
  if (TEST_CODEC_KEYS !== REPLAY_CODEC_KEYS) {
    throw new Error(
      'run this through scripts/record-histories.ts: the fixtures must use the committed test-only codec key',
    );
  }
  const filters = process.argv.slice(2);
  const set = newestSet();
  const recorded = new Set(historySets().flatMap((x) => historyFiles(x).map((f) => f.slice(0, -'.json'.length))));
  const chosen = SCENARIOS.filter((s) =>
    filters.length === 0 ? !recorded.has(s.name) : filters.some((f) => s.name.includes(f)),
  );
  if (chosen.length === 0)
    throw new Error(filters.length === 0 ? 'every scenario has a history' : `no scenario matches ${filters.join(' ')}`);
  const taken = chosen.filter((s) => existsSync(path.join(set.dir, `${s.name}.json`)));
  if (taken.length > 0) {
    throw new Error(
      `${set.name} already has ${taken.map((s) => s.name).join(', ')}: histories are never re-recorded (a changed path ships as a patch with a new set; docs/workflow.md)`,
    );
  }
  const outDir = set.dir;
  const harness = await WorkflowHarness.create();
  try {
    for (const scenario of chosen) {
      let record: { workflowId: string; history: unknown; earlierRuns: unknown[] } | undefined;
      await harness.scenario(scenario.world, async (s) => {
        const ran = await scenario.run(s);
        // A scenario over several runs of one workflow ID returns them all, the last one last.
        const runs = Array.isArray(ran) ? ran : [ran];
        const last = runs[runs.length - 1];
        if (last === undefined) throw new Error(`${scenario.name} returned no workflow`);
        await s.quiesce(300);
        const historyOf = async (handle: LabHandle) =>
          JSON.parse(historyToJSON(await handle.fetchHistory())) as unknown;
        const earlierRuns: unknown[] = [];
        for (const run of runs.slice(0, -1)) {
          if (run.workflowId !== last.workflowId)
            throw new Error(`${scenario.name}: its runs must share a workflow ID`);
          earlierRuns.push(await historyOf(run));
        }
        record = { workflowId: last.workflowId, history: await historyOf(last), earlierRuns };
      });
      if (record === undefined) throw new Error(`${scenario.name} recorded nothing`);
      const file = path.join(outDir, `${scenario.name}.json`);
      const fixture = {
        scenario: scenario.name,
        sdk: '@temporalio/workflow 1.24.0',
        workflowId: record.workflowId,
        history: record.history,
        // Earlier runs of the same workflow ID (a result that came back after its workflow closed).
        ...(record.earlierRuns.length > 0 ? { earlierRuns: record.earlierRuns } : {}),
      };
      writeFileSync(file, `${JSON.stringify(fixture)}\n`);
      addToManifest(set, `${scenario.name}.json`);
      console.log(`recorded ${scenario.name} → ${path.relative(process.cwd(), file)}`);
    }
  } finally {
    await harness.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
