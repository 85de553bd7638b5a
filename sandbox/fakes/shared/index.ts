export {
  constantTimeEqual,
  escapeHtml,
  FakeHttpError,
  formValue,
  MAX_FAKE_BODY_BYTES,
  parseForm,
  parseJsonBody,
  readBody,
  requestUrl,
  sendEmpty,
  sendHtml,
  sendJson,
  startFakeHttpServer,
  type FakeHttpServer,
  type FakeRequestHandler,
} from './http';
export {
  applyConnectionFailure,
  FailureInjector,
  handleFailureControl,
  InjectedFailureSchema,
  type FailureState,
  type InjectedFailure,
} from './failure-injection';
export { renderOutboxPage, OUTBOX_REFRESH_SECONDS, type OutboxPage, type OutboxSection } from './outbox-page';
export { TaskTracker } from './tasks';
export {
  WebhookDispatcher,
  type WebhookAttempt,
  type WebhookDispatcherOptions,
  type WebhookRequest,
} from './webhook-dispatcher';
export {
  DEFAULT_WAIT_MS,
  startWebhookReceiver,
  type CapturedRequest,
  type Responder,
  type WebhookReceiver,
} from './webhook-receiver';
export { parseControl, zodIssuesMessage } from './validation';
