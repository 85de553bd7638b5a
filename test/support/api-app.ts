import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import type { ApiDeps } from '../../api/deps';
import { createLogger } from '../../lib/logger';
import { loadPracticeRegistry } from '../../lib/practices';
import { createDataConverter } from '../../lib/temporal/data-converter';
import { TASK_QUEUE } from '../../workflows/definitions';
import { TEST_CODEC_KEYS } from './temporal';
import { testSenders } from './senders';

/** Tokens the API test deps accept, one set per role. */
export const TEST_TOKENS = {
  ingest: 'ingest-token-0123456789abcdef',
  ops: 'ops-token-0123456789abcdef',
  admin: 'admin-token-0123456789abcdef',
} as const;

/**
 * ApiDeps for `app.inject` tests that need no running servers: the pool and the Temporal client
 * connect lazily (to a closed port), so a route that reaches them fails loudly, and a route that is
 * refused before its handler never touches them. Pass a real pool or client to go further.
 */
export function testApiDeps(overrides: Partial<ApiDeps> = {}): ApiDeps {
  const practices = overrides.practices ?? loadPracticeRegistry('config/practices.sandbox.json');
  const apiTokens = overrides.apiTokens ?? new Map([[TEST_TOKENS.ingest, 'ingest-client']]);
  return {
    pool: overrides.pool ?? new pg.Pool({ connectionString: 'postgres://labloop@127.0.0.1:1/none', max: 1 }),
    temporal:
      overrides.temporal ??
      new Client({
        connection: Connection.lazy({ address: '127.0.0.1:1' }),
        namespace: 'default',
        dataConverter: createDataConverter(TEST_CODEC_KEYS),
      }),
    practices,
    logger: createLogger('silent', 'test-api'),
    taskQueue: TASK_QUEUE,
    idSecret: 'test-id-secret-0123456789',
    publicBaseUrl: 'http://127.0.0.1:3000',
    apiTokens,
    // Every token may do everything for every practice unless a test gives its own registry.
    senders: overrides.senders ?? testSenders(practices, apiTokens.values()),
    twilioAuthToken: 'twilio-auth-token-0123456789',
    now: () => new Date(),
    opsTokens: new Map([[TEST_TOKENS.ops, 'ops-client']]),
    adminTokens: new Map([[TEST_TOKENS.admin, 'admin-client']]),
    temporalUiOrigins: ['http://127.0.0.1:8233'],
    athenaWebhookSecret: 'athena-webhook-secret-0123456789',
    ...overrides,
  };
}
