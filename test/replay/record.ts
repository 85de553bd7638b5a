import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TEST_CODEC_KEYS } from '../support/temporal';
import { WorkflowHarness, type LabHandle } from '../workflows/support/harness';
import { REPLAY_CODEC_KEYS } from './replay-codec-key';
import { SCENARIOS } from './scenarios';

/**
 * Records the replay fixtures (run through scripts/record-histories.ts, which sets the codec key):
 * every scenario whose name contains one of the arguments (all without arguments) is run on a
 * time-skipping server, and its workflow history is written to test/replay/histories/<name>.json.
 * A full recording (no arguments) also removes histories of scenarios that no longer exist, so the
 * directory holds exactly SCENARIOS (replay.test.ts checks that). A scenario that spans several runs
 * of one workflow ID (closed, then continued) returns every run's handle; the earlier runs' histories
 * go into the same file (`earlierRuns`), and all of them are replayed.
 */
async function main(): Promise<void> {
  if (TEST_CODEC_KEYS !== REPLAY_CODEC_KEYS) {
    throw new Error(
      'run this through scripts/record-histories.ts: the fixtures must use the committed test-only codec key',
    );
  }
  const filters = process.argv.slice(2);
  const chosen = SCENARIOS.filter((s) => filters.length === 0 || filters.some((f) => s.name.includes(f)));
  if (chosen.length === 0) throw new Error(`no scenario matches ${filters.join(' ')}`);
  const outDir = path.join(__dirname, 'histories');
  mkdirSync(outDir, { recursive: true });
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
      console.log(`recorded ${scenario.name} → ${path.relative(process.cwd(), file)}`);
    }
    if (filters.length === 0) {
      const known = new Set(SCENARIOS.map((s) => `${s.name}.json`));
      for (const file of readdirSync(outDir).filter((f) => f.endsWith('.json') && !known.has(f))) {
        rmSync(path.join(outDir, file));
        console.log(`removed ${file} (no such scenario)`);
      }
    }
  } finally {
    await harness.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
