import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { StaffSessionLookup } from './auth/privileged';
import type { ReviewAppSettings } from './review/settings';
import type { TrustProxy } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { PracticeRegistry } from '../lib/practices';
import type { SenderRegistry } from '../lib/senders';
import type { WorkflowSignaller } from '../lib/consent/workflow-signaller';
import type { ConversationContacts } from '../lib/clients/spruce';

/** Everything the API needs, injected (tests build the app with their own). */
export interface ApiDeps {
  pool: Pool;
  temporal: Client;
  practices: PracticeRegistry;
  logger: Logger;
  taskQueue: string;
  /** HMAC key for result references in workflow IDs. */
  idSecret: string;
  /** The URL the outside world calls us at (Twilio signs it). */
  publicBaseUrl: string;
  /** token → client name */
  apiTokens: Map<string, string>;
  /** Who may send what (lib/senders.ts): what each token, certificate and athena may do, and for which practices. */
  senders: SenderRegistry;
  twilioAuthToken: string;
  now: () => Date;
  /** Operator tokens for the codec endpoint (token → name); none when absent. */
  opsTokens?: Map<string, string>;
  /** Scrapers of `/metrics` (LABLOOP_METRICS_TOKENS, token → name); none when absent: /metrics answers 403. */
  metricsTokens?: Map<string, string>;
  /** Administrator tokens for the audit export (token → name); none when absent. */
  adminTokens?: Map<string, string>;
  /** Temporal Web UI origins allowed to call the codec endpoint from a browser. */
  temporalUiOrigins?: readonly string[];
  /** Per-client budget on rate-limited routes; default 600 requests a minute. Tests shrink it. */
  rateLimit?: { max: number; timeWindowMs: number };
  /**
   * Requests per window one authenticated machine client may send to one ingestion route (HL7, FHIR,
   * athena webhooks); default the larger of 6,000 and ten times `rateLimit.max` (api/ingest/rate-limit.ts).
   */
  ingestRateLimitPerClient?: number;
  /** Proxies whose X-Forwarded-For names the client (TRUST_PROXY); default none. */
  trustProxy?: TrustProxy;
  /**
   * The review-app session of a request (wired by the session layer, api/auth/session*), so signed-in
   * administrators can use the codec endpoint and the audit export. Absent: tokens only.
   */
  staffSession?: StaffSessionLookup;
  /** athena Event Subscription secret (`X-Hub-Secret`); absent: `/webhooks/athena` answers 503. */
  athenaWebhookSecret?: string;
  /** Budget for the Temporal calls of one HL7/FHIR hand-off (default 10 s); tests shrink it. */
  temporalDeadlineMs?: number;
  /** Spruce webhook signing secret (`X-Spruce-Signature`); absent: `/webhooks/spruce` refuses everything (403). */
  spruceWebhookSecret?: string;
  /**
   * The contacts of a Spruce conversation (Spruce's API, cached), so a reply in a thread we never
   * posted into reaches its patient; absent: only threads we posted into are matched.
   */
  spruceConversations?: ConversationContacts;
  /** Verified Twilio/Spruce webhooks per route and window; default 60,000 (api/app.ts). Tests shrink it. */
  vendorWebhookRateLimitPerRoute?: number;
  /** Twilio To number or Messaging Service SID → practices it serves (TWILIO_INBOUND_PRACTICES); absent: all. */
  twilioInboundPractices?: Map<string, string[]>;
  /** How webhooks and the consent route signal workflows; default: the Temporal client. Tests record instead. */
  signaller?: WorkflowSignaller;
  /** The review app's sign-in settings (api/review/settings.ts); absent: /review says sign-in is not configured. */
  review?: ReviewAppSettings;
}
