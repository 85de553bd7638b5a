import { createAthenaClient, type AthenaClient, type AthenaClientOptions } from '../../lib/clients/athena';
import { startAthenaFake, type AthenaFake, type AthenaFakeOptions } from '../../sandbox/fakes/athena';

/** The OAuth client the athena client tests register with the fake (and present to it). */
export const ATHENA_TEST_CLIENT_ID = 'labloop-test-client';
export const ATHENA_TEST_CLIENT_SECRET = 'labloop-test-secret';

/** An athena fake that knows the test client ({@link ATHENA_TEST_CLIENT_ID}). */
export function startAthenaTestFake(
  options: Omit<AthenaFakeOptions, 'clientId' | 'clientSecret'> = {},
): Promise<AthenaFake> {
  return startAthenaFake({ clientId: ATHENA_TEST_CLIENT_ID, clientSecret: ATHENA_TEST_CLIENT_SECRET, ...options });
}

/**
 * The real athena client pointed at a fake with the test credentials. It does not throttle (1000
 * requests/s) and backs off 1 ms between retries: the fake answers at once, and the tests count
 * attempts rather than wait for them. `overrides` sets anything else (clock, retry limits, timeouts).
 */
export function athenaClientOfFake(
  fake: Pick<AthenaFake, 'url'>,
  overrides: Partial<AthenaClientOptions> = {},
): AthenaClient {
  return createAthenaClient({
    baseUrl: fake.url,
    clientId: ATHENA_TEST_CLIENT_ID,
    clientSecret: ATHENA_TEST_CLIENT_SECRET,
    requestsPerSecond: 1000,
    retryBaseDelayMs: 1,
    ...overrides,
  });
}
