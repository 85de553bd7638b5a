/**
 * Records replay histories into the newest set under test/replay/histories/ (test/replay/history-sets.ts;
 * replayed by test/replay/replay.test.ts). Histories are added, never re-recorded: a new path gets a
 * new scenario, a changed path ships as a patch with a new set (docs/workflow.md).
 *
 *   npx tsx scripts/record-histories.ts            # every scenario that has no history yet
 *   npx tsx scripts/record-histories.ts cancel     # those whose name contains "cancel" (not yet in the newest set)
 *
 * The recorder runs in a child process so the committed test-only codec key is in its environment
 * before the test support reads it.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPLAY_CODEC_KEYS } from '../test/replay/replay-codec-key';

const root = path.resolve(__dirname, '..');
const child = spawnSync(
  process.execPath,
  ['--import', 'tsx', path.join(root, 'test/replay/record.ts'), ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, LABLOOP_CODEC_KEYS: REPLAY_CODEC_KEYS },
  },
);
process.exit(child.status ?? 1);
