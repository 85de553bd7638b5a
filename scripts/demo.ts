/**
 * `npm run demo`: sends the sample results in sandbox/demo/ through a running `npm start`:
 * a normal result that arrives already signed (HTTPS) → one generic SMS in the Twilio sandbox; an
 * abnormal result (MLLP) → waits in the review app for sign-off; a critical result (HTTPS) → pages
 * the on-call provider and opens a call task at once. Prints where to watch each one.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { sendMllp } from '../api/mllp';
import { PROJECT_ROOT } from '../lib/tools';

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
}

const DEMO_DIR = path.join(PROJECT_ROOT, 'sandbox/demo');
const CONSENTING_PATIENTS = [
  { patientId: 'MRN-500', phone: '+16175550123' },
  { patientId: 'MRN-501', phone: '+16175550177' },
];

async function main(): Promise<void> {
  const stateFile = path.join(process.env.LABLOOP_DATA_DIR ?? path.join(PROJECT_ROOT, '.data'), 'sandbox-running.json');
  if (!existsSync(stateFile)) throw new Error('no running sandbox found: start it first with `npm start`');
  const sandbox = JSON.parse(readFileSync(stateFile, 'utf8')) as RunningSandbox;
  const auth = { authorization: `Bearer ${sandbox.apiToken}` };

  for (const p of CONSENTING_PATIENTS) {
    const response = await fetch(`${sandbox.urls.api}/v1/practices/195900/patients/${p.patientId}/sms-consent`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ phone: p.phone, consented: true, source: 'staff' }),
    });
    console.log(`SMS consent recorded for ${p.patientId}: HTTP ${response.status}`);
  }

  const postHttps = async (file: string) => {
    const response = await fetch(`${sandbox.urls.api}/v1/hl7`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/hl7-v2', accept: 'application/json' },
      body: readFileSync(path.join(DEMO_DIR, file), 'utf8'),
    });
    const json = (await response.json()) as { ack: string; results: { workflowId: string; statusUrl: string }[] };
    console.log(`${file} over HTTPS → HTTP ${response.status}, ACK ${json.ack}`);
    for (const r of json.results) console.log(`    workflow ${r.workflowId}\n    status   ${r.statusUrl}`);
  };

  await postHttps('normal-signed.hl7');
  const mllp = new URL(sandbox.urls.mllp.replace('mllp://', 'http://'));
  const ack = await sendMllp({
    host: mllp.hostname,
    port: Number(mllp.port),
    message: readFileSync(path.join(DEMO_DIR, 'abnormal-unsigned.hl7'), 'utf8'),
    timeoutMs: 10_000,
  });
  console.log(`abnormal-unsigned.hl7 over MLLP → ${ack.split('\r').find((s) => s.startsWith('MSA')) ?? ack}`);
  await postHttps('critical-unsigned.hl7');

  console.log(
    [
      '',
      `Watch: the SMS in ${sandbox.urls.twilio}, pages and secure messages in ${sandbox.urls.spruce},`,
      `call tasks and portal notes in ${sandbox.urls.athena}, the runs in ${sandbox.urls.temporalUi ?? 'the Temporal UI'},`,
      `and sign the abnormal result in ${sandbox.urls.review}.`,
      'Status URLs need the API token: curl -H "Authorization: Bearer <token from npm start>" <status URL>',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
