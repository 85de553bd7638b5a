import { generateKeyPairSync, randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Provider, type Configuration } from 'oidc-provider';
import type { PracticeRegistry } from '../lib/practices';

/**
 * A local OpenID Connect identity provider (panva's oidc-provider) on 127.0.0.1, standing in for
 * the practice's SSO (Entra ID, Okta, Google) in tests and in the sandbox. It is a real OP: discovery,
 * authorization code with PKCE, signed ID tokens, userinfo. Its sign-in page checks a login (email or
 * username) and a password against a fixed account list, then grants the first-party client
 * without a consent screen, as a workforce IdP does.
 */

export interface OidcAccount {
  /** Stable subject (`sub`). */
  subject: string;
  /** What people type to sign in: their email, or a username. Case-insensitive. */
  logins: string[];
  password: string;
  email: string;
  emailVerified: boolean;
  name: string;
}

export interface OidcClientRegistration {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export interface LocalOidcProviderOptions {
  clients: OidcClientRegistration[];
  accounts: OidcAccount[];
  /** 0 (default) = any free port. */
  port?: number;
}

export interface LocalOidcProvider {
  /** The issuer URL (also the base URL), e.g. http://127.0.0.1:43123 */
  issuer: string;
  close(): Promise<void>;
}

/** The review app's client ID at the sandbox identity provider. */
export const SANDBOX_OIDC_CLIENT_ID = 'labloop-review';

/** The sandbox's accounts: every staff member with an email, password "sandbox". Never used outside the sandbox. */
export const SANDBOX_PASSWORD = 'sandbox';

export function sandboxAccounts(practices: PracticeRegistry, password = SANDBOX_PASSWORD): OidcAccount[] {
  return practices.all().flatMap((entry) =>
    entry.policy.staff
      .filter((s) => s.email !== undefined)
      .map((s) => ({
        subject: s.oidcSubject ?? `sandbox-${entry.policy.practiceId}-${s.id}`,
        logins: [s.email ?? '', ...(s.athenaUsername === undefined ? [] : [s.athenaUsername])],
        password,
        email: s.email ?? '',
        emailVerified: true,
        name: s.name,
      })),
  );
}

/** Token lifetimes (seconds): short, as a test IdP needs nothing longer; set explicitly to silence the library's advice. */
const TTL = {
  AccessToken: 10 * 60,
  AuthorizationCode: 60,
  IdToken: 10 * 60,
  Interaction: 10 * 60,
  Session: 60 * 60,
  Grant: 60 * 60,
} as const;
/** A sign-in form is tiny; bound the body we read. */
const MAX_FORM_BYTES = 16 * 1024;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_FORM_BYTES) throw new Error('form too large');
    chunks.push(buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function loginPage(uid: string, clientName: string, error?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Sandbox identity provider</title></head>
<body>
<main>
<h1>Sandbox identity provider</h1>
<p>Sign in to continue to ${escapeHtml(clientName)}.</p>
${error === undefined ? '' : `<p role="alert">${escapeHtml(error)}</p>`}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label for="login">Email or username</label>
<input id="login" name="login" type="text" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</main>
</body></html>`;
}

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

export async function startOidcProvider(options: LocalOidcProviderOptions): Promise<LocalOidcProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const bySubject = new Map(options.accounts.map((a) => [a.subject, a]));
  const findByLogin = (login: string) =>
    options.accounts.find((a) => a.logins.some((l) => l.toLowerCase() === login.trim().toLowerCase()));

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = {
    ...privateKey.export({ format: 'jwk' }),
    kid: randomBytes(8).toString('hex'),
    use: 'sig',
    alg: 'RS256',
  };

  const configuration: Configuration = {
    clients: options.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      client_name: 'labloop review',
      redirect_uris: c.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    ttl: { ...TTL },
    findAccount: (_ctx, id) => {
      const account = bySubject.get(id);
      if (account === undefined) return undefined;
      return {
        accountId: account.subject,
        claims: () => ({
          sub: account.subject,
          email: account.email,
          email_verified: account.emailVerified,
          name: account.name,
        }),
      };
    },
  };
  const provider = new Provider(issuer, configuration);
  const callback = provider.callback();

  /** Grants everything the first-party client asked for: a workforce IdP shows no consent screen. */
  const grantFor = async (accountId: string, clientId: string, scope: string): Promise<string> => {
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope(scope);
    return grant.save();
  };

  const interaction = async (req: IncomingMessage, res: ServerResponse, uid: string, submit: boolean) => {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid)
      return send(res, 400, '<p>This sign-in has expired. Start again from the application.</p>');
    const clientId = typeof details.params.client_id === 'string' ? details.params.client_id : '';
    const scope = typeof details.params.scope === 'string' ? details.params.scope : 'openid';
    if (details.prompt.name === 'consent' && details.session?.accountId !== undefined) {
      const grantId = await grantFor(details.session.accountId, clientId, scope);
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    if (!submit) return send(res, 200, loginPage(uid, 'labloop review'));
    const form = await readForm(req);
    const account = findByLogin(form.get('login') ?? '');
    if (account === undefined || !sameSecret(account.password, form.get('password') ?? '')) {
      return send(res, 401, loginPage(uid, 'labloop review', 'Wrong email, username or password.'));
    }
    const grantId = await grantFor(account.subject, clientId, scope);
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: account.subject }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(url.pathname);
    if (match?.[1] === undefined) {
      void callback(req, res);
      return;
    }
    const submit = match[2] !== undefined && req.method === 'POST';
    interaction(req, res, match[1], submit).catch(() => {
      if (!res.headersSent) send(res, 400, '<p>This sign-in could not continue. Start again from the application.</p>');
      else res.end();
    });
  });

  return {
    issuer,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
