import { sleep } from '@temporalio/workflow';
import type { LabResultWorkflowInput, ResultStatusView } from '../../workflows/definitions';
import { labResultWorkflow as realWorkflow } from '../../workflows/lab-result-workflow';

/**
 * TEST-ONLY: the lab-result workflow with one unversioned change (a timer before anything else),
 * the kind of edit that breaks running workflows. Replaying the committed histories against it must
 * fail with a determinism error, which proves the replay test can catch such a change.
 */
export async function labResultWorkflow(input: LabResultWorkflowInput): Promise<ResultStatusView> {
  await sleep('1 second');
  return realWorkflow(input);
}
