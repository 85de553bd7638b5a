import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Runtime } from '@temporalio/worker';
import { createLogger } from '../../lib/logger';
import { installTemporalRuntime } from '../../lib/temporal/runtime';

/**
 * What production does with the Temporal SDK's log lines (lib/temporal/runtime.ts): forwarded to
 * pino at WARN and above, with the identifiers of their metadata only. The SDK's metadata can carry
 * decoded payloads (its TRACE "Got workflow activation" holds the patient's data in plain text) and
 * error text quoting them; none of it may reach a log line.
 */
describe('the Temporal SDK log lines production forwards', () => {
  it('keep the message and the IDs, drop every other metadata field, and nothing below WARN', () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n'))
          if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    installTemporalRuntime(createLogger('trace', 'labloop-worker', destination));
    const sdk = Runtime.instance().logger;
    const phiMeta = {
      workflowId: 'lab-result-195900-0123456789abcdef0123456789abcdef',
      runId: '019ad2f3-2823-3a9c-8f5e-0174e2b1c0d9',
      jobs: [
        { initializeWorkflow: { arguments: [{ patient: { lastName: 'Whitcombe', mobilePhone: '6175550174' } }] } },
      ],
      error: { message: 'number +16175550174 is invalid' },
    };
    sdk.trace('Got workflow activation', phiMeta);
    sdk.debug('Creating worker', phiMeta);
    sdk.info('Workflow bundle created', phiMeta);
    sdk.warn('Activity failed', phiMeta);
    sdk.error('Workflow task failed', phiMeta);
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['Activity failed', 'Workflow task failed'],
      'WARN and above only',
    );
    for (const line of lines) {
      assert.deepEqual(line.temporal, { workflowId: phiMeta.workflowId, runId: phiMeta.runId });
      const text = JSON.stringify(line);
      for (const phi of ['Whitcombe', '6175550174']) assert.ok(!text.includes(phi), `${phi} in ${text}`);
    }
  });
});
