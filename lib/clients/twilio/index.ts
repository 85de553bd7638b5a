export {
  createTwilioMessaging,
  DEFAULT_TWILIO_TIMEOUT_MS,
  RECONCILE_SCAN_LIMIT,
  type SendSmsInput,
  type SentSms,
  type TwilioMessageSummary,
  type TwilioMessaging,
  type TwilioMessagingOptions,
} from './messaging';
export { TwilioSendError, parseRetryAfter, type TwilioErrorKind, type TwilioSendErrorDetails } from './errors';
export {
  classifyDeliveryErrorCode,
  describeTwilioErrorCode,
  isPermanentSendErrorCode,
  isRetryableSendErrorCode,
  PERMANENT_DELIVERY_ERROR_CODES,
  PERMANENT_SEND_ERROR_CODES,
  RETRYABLE_SEND_ERROR_CODES,
  SMS_REFUSAL_KIND_BY_CODE,
  smsRefusalKind,
  type SmsRefusalKind,
  TRANSIENT_DELIVERY_ERROR_CODES,
} from './error-codes';
export { verifyTwilioSignature, type TwilioSignatureInput } from './signature';
