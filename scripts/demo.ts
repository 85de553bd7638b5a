/**
 * `npm run demo [-- --wait-seconds N]`: sends the sample results in sandbox/demo/ through a running
 * `npm start`, then follows each one to its outcome on its status URL (a workflow query):
 *  - a normal result that arrives already signed (HTTPS): the generic SMS is delivered, or held
 *    until the patient's messaging window opens (quiet hours);
 *  - an abnormal result (MLLP): it waits for a provider's sign-off in the review app;
 *  - a critical result (HTTPS): the on-call provider is paged and a call task opened at once.
 * Each one gets up to --wait-seconds (default 60) to get there. Exit 0: every result reached its
 * outcome, printed. Exit 1: the sandbox is not running, a send was refused, or a result did not
 * get there in time (its last state is printed).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DateTime } from 'luxon';
import { parseHl7ForPractice } from '../api/ingest/hl7-ingest';
import { resultIdentity, workflowIdForResult } from '../lib/ingest/handoff';
import { sendMllp } from '../api/mllp';
import { loadPracticeRegistry, type PracticeRegistry } from '../lib/practices';
import { PROJECT_ROOT } from '../lib/tools';
import type { ResultStatusView } from '../workflows/definitions';

interface RunningSandbox {
  urls: {
    api: string;
    mllp: string;
    review: string;
    twilio: string;
    spruce: string;
    athena: string;
    temporalUi?: string;
  };
  apiToken: string;
  /** athena's outbound ORU interface's token: its results arrive signed (older state files lack it). */
  athenaOruToken?: string;
  /** MLLP is mutual TLS: the sandbox CA and the lab engine's client certificate (older state files lack it). */
  mllpTls?: { caFile: string; certFile: string; keyFile: string };
  /** The practice registry the running stack loaded (older state files lack it). */
  practicesFile?: string;
}

const DEMO_DIR = path.join(PROJECT_ROOT, 'sandbox/demo');
const DATA_DIR = process.env.LABLOOP_DATA_DIR ?? path.join(PROJECT_ROOT, '.data');
/** The sandbox practice the samples belong to (config/practices.sandbox.json). */
const DEMO_PRACTICE = '195900';
const CONSENTING_PATIENTS = [
  { patientId: 'MRN-500', phone: '+16175550123' },
  { patientId: 'MRN-501', phone: '+16175550177' },
];
/** A result normally reaches its outcome in 1–5 s; a minute covers a busy 2-core machine. */
const DEFAULT_WAIT_SECONDS = 60;
const POLL_INTERVAL_MS = 500;

/** What a result has come to, in words, or undefined while it is still on its way. */
type Outcome = (view: ResultStatusView) => string | undefined;

function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'wait-seconds': { type: 'string' } }, strict: true });
  const waitSeconds = Number(values['wait-seconds'] ?? DEFAULT_WAIT_SECONDS);
  if (!Number.isFinite(waitSeconds) || waitSeconds <= 0) throw new Error('--wait-seconds must be a positive number');
  const stateFile = path.join(DATA_DIR, 'sandbox-running.json');
  if (!existsSync(stateFile)) throw new Error('no running sandbox found: start it first with `npm start`');
  const sandbox = JSON.parse(readFileSync(stateFile, 'utf8')) as RunningSandbox;
  return runDemo(sandbox, waitSeconds * 1000);
}

async function runDemo(sandbox: RunningSandbox, waitMs: number): Promise<void> {
  const auth = { authorization: `Bearer ${sandbox.apiToken}` };
  const practices = loadPracticeRegistry(sandbox.practicesFile ?? 'config/practices.sandbox.json');
  const zoneOf = (practiceId: string) => practices.policy(practiceId)?.calendar.timeZone ?? 'UTC';

  // The front desk's tooling records the consent through the lab engine's integration token: the
  // audit names that sender as the actor (a staff ID in the body is not an identity, and is refused).
  if (sandbox.athenaOruToken === undefined || sandbox.mllpTls === undefined) {
    throw new Error('the running sandbox predates sender scopes and MLLP over TLS: restart it with `npm start`');
  }
  const athenaOru = { authorization: `Bearer ${sandbox.athenaOruToken}` };
  for (const p of CONSENTING_PATIENTS) {
    const response = await fetch(
      `${sandbox.urls.api}/v1/practices/${DEMO_PRACTICE}/patients/${p.patientId}/sms-consent`,
      {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ phone: p.phone, consented: true, source: 'staff' }),
      },
    );
    console.log(`SMS consent recorded for ${p.patientId}: HTTP ${response.status}`);
    if (!response.ok) throw new Error(`the consent for ${p.patientId} was refused: ${await response.text()}`);
  }

  // Each sample comes from the sender that would send it: athena's outbound ORU (its results arrive
  // signed) for the signed one, the lab's engine for the others (config/senders.sandbox.json).
  const postHttps = async (file: string, headers: Record<string, string> = auth): Promise<string> => {
    const response = await fetch(`${sandbox.urls.api}/v1/hl7`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/hl7-v2', accept: 'application/json' },
      body: readFileSync(path.join(DEMO_DIR, file), 'utf8'),
    });
    const json = (await response.json()) as { ack: string; results?: { workflowId: string; statusUrl: string }[] };
    console.log(`${file} over HTTPS → HTTP ${response.status}, ACK ${json.ack}`);
    const first = json.results?.[0];
    if (response.status !== 202 || first === undefined) throw new Error(`${file} was not accepted`);
    console.log(`    workflow ${first.workflowId}\n    status   ${first.statusUrl}`);
    return first.statusUrl;
  };

  const normal = await postHttps('normal-signed.hl7', athenaOru);
  const abnormalText = readFileSync(path.join(DEMO_DIR, 'abnormal-unsigned.hl7'), 'utf8');
  const mllp = new URL(sandbox.urls.mllp.replace('mllp://', 'http://'));
  const ack = await sendMllp({
    host: mllp.hostname,
    port: Number(mllp.port),
    message: abnormalText,
    timeoutMs: 10_000,
    tls: {
      ca: readFileSync(sandbox.mllpTls.caFile),
      cert: readFileSync(sandbox.mllpTls.certFile),
      key: readFileSync(sandbox.mllpTls.keyFile),
    },
  });
  const msa = ack.split('\r').find((s) => s.startsWith('MSA')) ?? ack;
  console.log(`abnormal-unsigned.hl7 over MLLP → ${msa}`);
  if (!msa.startsWith('MSA|AA|')) throw new Error('abnormal-unsigned.hl7 was not accepted');
  // An MLLP ACK carries no status URL; the workflow ID is the one the API derives for the result.
  const abnormal = `${sandbox.urls.api}/v1/results/${mllpWorkflowId(abnormalText, practices)}`;
  console.log(`    status   ${abnormal}`);
  const critical = await postHttps('critical-unsigned.hl7');

  console.log(`\nFollowing each result to its outcome (up to ${waitMs / 1000} s) …`);
  const follow = (label: string, statusUrl: string, outcome: Outcome) =>
    followToOutcome(statusUrl, auth, outcome, waitMs).then(
      (text) => ({ label, ok: true, text }),
      (err: unknown) => ({ label, ok: false, text: err instanceof Error ? err.message : String(err) }),
    );
  const results = await Promise.all([
    follow('normal-signed.hl7', normal, (v) => normalOutcome(v, sandbox, zoneOf(v.practiceId))),
    follow('abnormal-unsigned.hl7', abnormal, (v) => abnormalOutcome(v, sandbox)),
    follow('critical-unsigned.hl7', critical, (v) => criticalOutcome(v, sandbox)),
  ]);
  for (const r of results) console.log(`${r.label}: ${r.text}`);

  console.log(
    [
      '',
      `Watch: the SMS in ${sandbox.urls.twilio}, pages and secure messages in ${sandbox.urls.spruce},`,
      `call tasks and portal notes in ${sandbox.urls.athena}, the runs in ${sandbox.urls.temporalUi ?? 'the Temporal UI'},`,
      `and sign the abnormal result in ${sandbox.urls.review}.`,
      'Status URLs need the API token: curl -H "Authorization: Bearer <token from npm start>" <status URL>',
    ].join('\n'),
  );
  const missed = results.filter((r) => !r.ok);
  if (missed.length > 0) throw new Error(`${missed.map((r) => r.label).join(', ')} did not reach an outcome`);
}

/** The workflow ID of the (first) result in an HL7 message, derived as the API's hand-off does. */
function mllpWorkflowId(text: string, practices: PracticeRegistry): string {
  const parsed = parseHl7ForPractice(text, practices);
  const result = parsed.ok ? parsed.results[0] : undefined;
  if (result === undefined) throw new Error('the abnormal sample does not parse');
  const secretsFile = path.join(DATA_DIR, 'sandbox-secrets.json');
  const { idSecret } = JSON.parse(readFileSync(secretsFile, 'utf8')) as { idSecret: string };
  return workflowIdForResult(idSecret, resultIdentity(result));
}

async function followToOutcome(
  statusUrl: string,
  headers: Record<string, string>,
  outcome: Outcome,
  waitMs: number,
): Promise<string> {
  const deadline = Date.now() + waitMs;
  let last: string;
  for (;;) {
    const response = await fetch(statusUrl, { headers });
    if (response.ok) {
      const view = (await response.json()) as ResultStatusView;
      const reached = outcome(view);
      if (reached !== undefined) return reached;
      last = `state ${view.state}, deliveries ${view.deliveries.map((d) => `${d.channel}:${d.status}`).join(' ') || 'none'}`;
    } else {
      last = `HTTP ${response.status}`;
    }
    if (Date.now() > deadline) throw new Error(`no outcome after ${waitMs / 1000} s (last: ${last}); see ${statusUrl}`);
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
  }
}

function normalOutcome(view: ResultStatusView, sandbox: RunningSandbox, zone: string): string | undefined {
  const sms = view.deliveries.find((d) => d.channel === 'sms');
  if (sms?.status === 'delivered' || sms?.status === 'read') {
    return `SMS delivered to the patient (generic text, no PHI): see ${sandbox.urls.twilio}`;
  }
  if (sms?.status === 'held' && sms.dueAt !== undefined) {
    const due = DateTime.fromISO(sms.dueAt).setZone(zone);
    return `SMS held for quiet hours until ${due.toFormat('HH:mm')} ${zone} time (${due.toISODate()}), when the patient's messaging window opens; the portal note is not held`;
  }
  if (sms?.status === 'failed' || sms?.status === 'undelivered') {
    return `SMS ${sms.status} (${sms.errorCode ?? 'no error code'}); state ${view.state}`;
  }
  return undefined;
}

function abnormalOutcome(view: ResultStatusView, sandbox: RunningSandbox): string | undefined {
  if (view.signed || view.state !== 'awaiting-sign-off') return undefined;
  const deadline = view.slaDeadline === undefined ? '' : ` (escalates at ${view.slaDeadline} if nobody signs)`;
  return `waiting for a provider's sign-off in the review app at ${sandbox.urls.review}${deadline}`;
}

function criticalOutcome(view: ResultStatusView, sandbox: RunningSandbox): string | undefined {
  const task = view.callTasks?.find((t) => t.status === 'open');
  if (view.criticalPagedAt === undefined || task === undefined) return undefined;
  return (
    `on-call provider paged at ${view.criticalPagedAt} (${sandbox.urls.spruce}) and call task ` +
    `${task.taskId ?? task.step} opened (${sandbox.urls.athena}); no automated message to the patient`
  );
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
