/**
 * Regenerates the replay fixtures in test/replay/histories/ (one workflow history per path of the
 * lab-result workflow, replayed by test/replay/replay.test.ts). Run it only after a deliberate,
 * versioned workflow change: the point of the fixtures is that old histories keep replaying.
 *
 *   npx tsx scripts/record-histories.ts            # every scenario in test/replay/scenarios.ts
 *   npx tsx scripts/record-histories.ts cancel     # those whose name contains "cancel"
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
