import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
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
}
