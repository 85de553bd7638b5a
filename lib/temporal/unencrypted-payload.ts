import { ApplicationFailure, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';

/**
 * A payload that reached the worker without labloop's encryption (a plain-JSON `signOff` from a
 * rogue or misconfigured client, a signal typed into a UI, a tool's start) must not act. The
 * worker's codec (EncryptionCodec with `requireEncryption`) swaps such a payload for this marker,
 * dropping its content; the payload converter and the workflow interceptor below refuse it by
 * name. No Node builtins here: this module is loaded inside the workflow sandbox.
 */
export const UNENCRYPTED_PAYLOAD_ENCODING = 'binary/labloop-unencrypted';

/** The ApplicationFailure type every refusal carries (update callers and task failures see it). */
export const UNENCRYPTED_PAYLOAD_ERROR = 'UnencryptedPayload';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The stand-in for an unencrypted payload: no data, only the marker encoding. */
export function unencryptedPayloadMarker(): Payload {
  return { metadata: { [METADATA_ENCODING_KEY]: encoder.encode(UNENCRYPTED_PAYLOAD_ENCODING) } };
}

export function isUnencryptedPayloadMarker(payload: Payload | null | undefined): boolean {
  const encoding = payload?.metadata?.[METADATA_ENCODING_KEY];
  return encoding !== undefined && encoding !== null && decoder.decode(encoding) === UNENCRYPTED_PAYLOAD_ENCODING;
}

/** The named, non-retryable refusal: a rogue client retrying must not turn it into a loop. */
export function unencryptedPayloadFailure(what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `${what} was not encrypted with labloop's payload codec, so the worker refuses it: ` +
      'only labloop clients configured with LABLOOP_CODEC_KEYS may send to its workflows',
    UNENCRYPTED_PAYLOAD_ERROR,
  );
}
