import {
  BinaryPayloadConverter,
  CompositePayloadConverter,
  JsonPayloadConverter,
  UndefinedPayloadConverter,
  type Payload,
  type PayloadConverterWithEncoding,
} from '@temporalio/common';
import { UNENCRYPTED_PAYLOAD_ENCODING, unencryptedPayloadFailure } from './unencrypted-payload';

/**
 * The SDK's default converters plus one that refuses the unencrypted-payload marker (see
 * unencrypted-payload.ts) with a named ApplicationFailure. Loaded by path, in the workflow sandbox
 * too (PAYLOAD_CONVERTER_PATH): an update whose argument was plaintext is rejected before its
 * validator runs, so it never reaches history; an activity given one fails without a retry.
 */
class RefuseUnencryptedPayloadConverter implements PayloadConverterWithEncoding {
  readonly encodingType = UNENCRYPTED_PAYLOAD_ENCODING;

  /** Never chosen to serialise: every value goes on to the default converters. */
  toPayload(): Payload | undefined {
    return undefined;
  }

  fromPayload<T>(): T {
    throw unencryptedPayloadFailure('a payload');
  }
}

export const payloadConverter = new CompositePayloadConverter(
  new RefuseUnencryptedPayloadConverter(),
  new UndefinedPayloadConverter(),
  new BinaryPayloadConverter(),
  new JsonPayloadConverter(),
);
