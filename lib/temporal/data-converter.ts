import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec, parseCodecKeys } from './encryption-codec';

/** Absolute path of the failure-converter module, for workers, bundles and replay alike. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');
/** The payload converter that refuses unencrypted payloads by name (inside the sandbox too). */
export const PAYLOAD_CONVERTER_PATH = require.resolve('./payload-converter');
/** Workflow interceptors bundled with the workflows (they drop unencrypted signals). */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('./workflow-interceptors')];

/** What every workflow bundle is built with (scripts/build-workflow-bundle.ts, tests, replay). */
export const WORKFLOW_BUNDLE_OPTIONS = {
  failureConverterPath: FAILURE_CONVERTER_PATH,
  payloadConverterPath: PAYLOAD_CONVERTER_PATH,
  workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
};

export interface DataConverterOptions {
  /** The worker's setting: unencrypted payloads are refused, not read (encryption-codec.ts). */
  requireEncryption?: boolean;
}

/** The one data converter every client, worker and test uses. */
export function createDataConverter(codecKeys: string, options: DataConverterOptions = {}): DataConverter {
  return {
    payloadCodecs: [new EncryptionCodec(parseCodecKeys(codecKeys), options)],
    payloadConverterPath: PAYLOAD_CONVERTER_PATH,
    failureConverterPath: FAILURE_CONVERTER_PATH,
  };
}

/**
 * What workers (and replays, which must decide as the worker did) use: unencrypted payloads are
 * refused by name.
 */
export function createWorkerDataConverter(codecKeys: string): DataConverter {
  return createDataConverter(codecKeys, { requireEncryption: true });
}
