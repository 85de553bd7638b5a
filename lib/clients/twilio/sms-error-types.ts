import { smsRefusalKind, type SmsRefusalKind } from './error-codes';
import { ActivityErrorType, type ActivityErrorTypeName } from '../../../domain/activity-error-types';

/** The ActivityErrorType of each refusal kind (lib/clients/twilio/error-codes.ts). */
export const SMS_REFUSAL_ERROR_TYPE = {
  'invalid-number': ActivityErrorType.SMS_INVALID_NUMBER,
  'opted-out': ActivityErrorType.SMS_OPTED_OUT,
  blocked: ActivityErrorType.SMS_BLOCKED,
} as const satisfies Record<SmsRefusalKind, ActivityErrorTypeName>;

/** The error type for a permanent Twilio code: its refusal kind's type, else the generic permanent one. */
export function smsErrorTypeForCode(code: number | string | undefined): ActivityErrorTypeName {
  const kind = smsRefusalKind(code);
  return kind === undefined ? ActivityErrorType.SMS_PERMANENT : SMS_REFUSAL_ERROR_TYPE[kind];
}
