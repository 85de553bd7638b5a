export {
  startTwilioFake,
  DEFAULT_CALLBACK_DELAYS_MS,
  DEFAULT_CALLBACK_RETRY,
  DEFAULT_SERVICE_NUMBER,
  type CallbackBehaviour,
  type InboundResult,
  type TimelineEntry,
  type TwilioFake,
  type TwilioFakeOptions,
} from './server';
export type { FakeMessageStatus, FakeMessageView, RecipientScenario, StatusEvent } from './model';
export { signTwilioWebhook } from './signature';
export { OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS, optOutTypeOf, type OptOutType } from './opt-out';
