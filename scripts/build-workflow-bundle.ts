/**
 * Prebuild the workflow bundle (production workers and the test run load it instead of bundling
 * at start). Usage: tsx scripts/build-workflow-bundle.ts [OUT_FILE]  (default dist/workflow-bundle.js)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_OPTIONS } from '../lib/temporal/data-converter';

export async function buildWorkflowBundle(outFile: string): Promise<string> {
  const { code, sourceMap } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    ...WORKFLOW_BUNDLE_OPTIONS,
    logger: new DefaultLogger('WARN'),
  });
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, code);
  writeFileSync(`${outFile}.map`, sourceMap);
  return outFile;
}

if (require.main === module) {
  const out = path.resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
  buildWorkflowBundle(out)
    .then((file) => console.log(`workflow bundle written to ${file}`))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
