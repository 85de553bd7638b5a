import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { StaffSessionLookup } from './auth/privileged';
import type { Logger } from '../lib/logger';
import type { PracticeRegistry } from '../lib/practices';

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
  twilioAuthToken: string;
  now: () => Date;
  /** Operator tokens for the codec endpoint (token → name); none when absent. */
  opsTokens?: Map<string, string>;
  /** Administrator tokens for the audit export (token → name); none when absent. */
  adminTokens?: Map<string, string>;
  /** Temporal Web UI origins allowed to call the codec endpoint from a browser. */
  temporalUiOrigins?: readonly string[];
  /** Per-client budget on rate-limited routes; default 600 requests a minute. Tests shrink it. */
  rateLimit?: { max: number; timeWindowMs: number };
  /**
   * The review-app session of a request (wired by the session layer, api/auth/session*), so signed-in
   * administrators can use the codec endpoint and the audit export. Absent: tokens only.
   */
  staffSession?: StaffSessionLookup;
}
