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
export {
  DEFAULT_KEYWORD_REPLIES,
  OPT_IN_KEYWORDS,
  OPT_OUT_KEYWORDS,
  optOutTypeOf,
  type AdvancedOptOut,
  type OptOutType,
} from './opt-out';
export { twimlMessages } from './server';
