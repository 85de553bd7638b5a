import * as oidc from 'openid-client';
import type { SsoIdentity } from '../../lib/review/staff';

/**
 * Provider single sign-on with OpenID Connect (openid-client): authorization code flow with PKCE
 * (S256), a state bound to the browser (the caller keeps it server-side, see session-store.ts), a
 * nonce, and full ID-token validation (issuer, audience, signature, expiry, nonce) by the library.
 * The issuer's metadata is fetched on first use and kept; a failed fetch is retried on the next
 * sign-in rather than failing the API's start.
 */

/** An IdP that does not answer discovery or the token call in 10 s is treated as down. */
const IDP_TIMEOUT_SECONDS = 10;
const SCOPES = 'openid email profile';

export interface OidcSettings {
  issuerUrl: string;
  clientId: string;
  clientSecret: string;
  /** Our callback, exactly as registered at the identity provider. */
  redirectUri: string;
}

/** What has to be remembered between the redirect out and the callback. */
export interface OidcChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** Why a callback did not sign anyone in; `reason` is safe to show (no tokens, no claims). */
export class OidcLoginError extends Error {
  override readonly name = 'OidcLoginError';
  constructor(
    readonly kind: 'denied' | 'invalid' | 'unavailable',
    readonly reason: string,
  ) {
    super(reason);
  }
}

function isLoopback(url: URL): boolean {
  return url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
}

export function createOidcLogin(settings: OidcSettings) {
  const issuer = new URL(settings.issuerUrl);
  let configuration: Promise<oidc.Configuration> | undefined;

  const discover = (): Promise<oidc.Configuration> => {
    configuration ??= oidc
      .discovery(issuer, settings.clientId, settings.clientSecret, undefined, {
        timeout: IDP_TIMEOUT_SECONDS,
        // Plain http only for an identity provider on this machine (tests, the sandbox); config refuses http in production.
        ...(issuer.protocol === 'http:' && isLoopback(issuer) ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      .catch((err: unknown) => {
        configuration = undefined;
        throw err;
      });
    return configuration;
  };

  return {
    /** The identity provider's authorization URL and the checks to keep until the callback. */
    async begin(): Promise<{ url: URL; checks: OidcChecks }> {
      let config: oidc.Configuration;
      try {
        config = await discover();
      } catch {
        throw new OidcLoginError(
          'unavailable',
          'The sign-in service is not reachable right now. Try again in a minute.',
        );
      }
      const checks: OidcChecks = {
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        codeVerifier: oidc.randomPKCECodeVerifier(),
      };
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: settings.redirectUri,
        scope: SCOPES,
        response_type: 'code',
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
        state: checks.state,
        nonce: checks.nonce,
      });
      return { url, checks };
    },

    /**
     * Finishes a sign-in from the callback's query string: exchanges the code (with the PKCE
     * verifier), validates the ID token and its nonce, and reads the email from the ID token or,
     * when the provider keeps it there, from the userinfo endpoint.
     */
    async complete(callbackQuery: string, checks: OidcChecks): Promise<SsoIdentity> {
      const config = await discover().catch(() => {
        throw new OidcLoginError(
          'unavailable',
          'The sign-in service is not reachable right now. Try again in a minute.',
        );
      });
      const callbackUrl = new URL(settings.redirectUri);
      callbackUrl.search = callbackQuery;
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
        });
      } catch (err) {
        if (err instanceof oidc.AuthorizationResponseError) {
          throw new OidcLoginError('denied', `The identity provider did not sign you in (${err.error}).`);
        }
        throw new OidcLoginError(
          'invalid',
          'The sign-in response could not be verified (it may have expired or been used already). Please sign in again.',
        );
      }
      const claims = tokens.claims();
      if (claims === undefined) throw new OidcLoginError('invalid', 'The identity provider sent no ID token.');
      let email = typeof claims.email === 'string' ? claims.email : undefined;
      let emailVerified = claims.email_verified === true;
      if (email === undefined && config.serverMetadata().userinfo_endpoint !== undefined) {
        try {
          const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
          email = typeof info.email === 'string' ? info.email : undefined;
          emailVerified = info.email_verified === true;
        } catch {
          throw new OidcLoginError('unavailable', 'Your account details could not be read from the sign-in service.');
        }
      }
      return { subject: claims.sub, ...(email === undefined ? {} : { email }), emailVerified };
    },
  };
}

export type OidcLogin = ReturnType<typeof createOidcLogin>;
