import type { Pool } from 'pg';
import type { ProcessConfig } from '../../lib/config';
import type { PracticeRegistry } from '../../lib/practices';
import type { StaffSessionLookup } from '../auth/privileged';
import { createWebSessions } from '../auth/session';

/** How the review app signs people in; built from configuration (lib/config.ts validates it). */
export interface ReviewAppSettings {
  /** Signs the app's cookies and keys CSRF tokens. */
  sessionSecret: string;
  idleMinutes: number;
  /** The public URL is https: cookies are Secure. */
  secureCookies: boolean;
  /** The "pick a sandbox staff member" sign-in (only with NODE_ENV=development; the config refuses it otherwise). */
  demoLogin: boolean;
  oidc?: { issuerUrl: string; clientId: string; clientSecret: string };
}

/** The review app's settings, or undefined when no sign-in method is configured. */
export function reviewSettingsFromConfig(config: ProcessConfig<'api'>): ReviewAppSettings | undefined {
  if (config.SESSION_SECRET === undefined) return undefined;
  const oidc =
    config.OIDC_ISSUER_URL !== undefined &&
    config.OIDC_CLIENT_ID !== undefined &&
    config.OIDC_CLIENT_SECRET !== undefined
      ? { issuerUrl: config.OIDC_ISSUER_URL, clientId: config.OIDC_CLIENT_ID, clientSecret: config.OIDC_CLIENT_SECRET }
      : undefined;
  const demoLogin = config.LABLOOP_DEMO_LOGIN && config.NODE_ENV === 'development';
  if (oidc === undefined && !demoLogin) return undefined;
  return {
    sessionSecret: config.SESSION_SECRET,
    idleMinutes: config.SESSION_IDLE_MINUTES,
    secureCookies: new URL(config.PUBLIC_BASE_URL).protocol === 'https:',
    demoLogin,
    ...(oidc === undefined ? {} : { oidc }),
  };
}

/**
 * The review app's wiring for ApiDeps: its settings, and the session lookup the privileged routes
 * (codec endpoint, audit export) use to recognise a signed-in administrator.
 */
export function reviewApiDeps(
  config: ProcessConfig<'api'>,
  deps: { pool: Pool; practices: PracticeRegistry; now: () => Date },
): { review?: ReviewAppSettings; staffSession?: StaffSessionLookup } {
  const review = reviewSettingsFromConfig(config);
  if (review === undefined) return {};
  const sessions = createWebSessions({
    ...deps,
    settings: { idleMinutes: review.idleMinutes, secureCookies: review.secureCookies },
  });
  return { review, staffSession: sessions.staffSessionLookup };
}
