import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec, parseCodecKeys } from './encryption-codec';

/** Absolute path of the failure-converter module, for workers, bundles and replay alike. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** The one data converter every client, worker and test uses. */
export function createDataConverter(codecKeys: string): DataConverter {
  return {
    payloadCodecs: [new EncryptionCodec(parseCodecKeys(codecKeys))],
    failureConverterPath: FAILURE_CONVERTER_PATH,
  };
}
