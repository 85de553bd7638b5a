import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/tools';
import { describeLeaks, fixturePhi, scanForPhi } from '../support/phi-scan';
import { eventually } from '../support/stack';

/**
 * `npm start`'s launcher as a user runs it: a process on embedded defaults that prints its URLs,
 * serves them, runs the demo to each result's outcome, and stops cleanly on Ctrl-C. A terminal's
 * Ctrl-C signals the whole foreground process group (the launcher, the Temporal CLI and PostgreSQL
 * alike), so the launcher runs in a group of its own and the test signals the group.
 *
 * The sample practice's messaging window is widened to the whole day, so the demo's normal result
 * is texted right away whatever time the test runs (quiet hours have their own e2e test). The
 * launcher logs at `info`, as `npm start` does, and neither its output nor the demo's may carry
 * the samples' PHI.
 */
const DEMO_PHONE = '+16175550123';

/** Every live descendant of `pid` (from /proc), with its command line. */
function descendants(pid: number): { pid: number; cmd: string }[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the command (which may hold spaces) start after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // Gone while we looked.
    }
  }
  const found: { pid: number; cmd: string }[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [child, ppid] of parentOf) {
      if (ppid !== parent) continue;
      queue.push(child);
      let cmd = '?';
      try {
        cmd = readFileSync(`/proc/${child}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      } catch {
        // Gone while we looked.
      }
      found.push({ pid: child, cmd });
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/**
 * A GET on a connection of its own: the pooled one from the first test sat idle through the demo
 * (longer than the server's keep-alive) and may be closed under the request ("other side closed").
 */
function freshFetch(target: string): Promise<{ json(): Promise<unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpGet(target, { agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ json: () => Promise.resolve(JSON.parse(text) as unknown) });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

describe('the run command (scripts/dev.ts)', () => {
  let child: ChildProcess;
  let output = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'labloop-run-'));
  // As root, the embedded PostgreSQL runs as the `postgres` user, which must reach its data directory.
  chmodSync(dataDir, 0o755);
  const practicesFile = path.join(dataDir, 'practices.json');

  before(async () => {
    const registry = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'config/practices.sandbox.json'), 'utf8')) as {
      practices: { policy: Record<string, unknown> }[];
    };
    for (const practice of registry.practices) practice.policy.patientQuietHours = { start: '00:00', end: '00:00' };
    writeFileSync(practicesFile, JSON.stringify(registry));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LABLOOP_DATA_DIR: dataDir,
      LABLOOP_PRACTICES_FILE: practicesFile,
      LOG_LEVEL: 'info',
    };
    // It must stand on its own: no shared servers from the test runner.
    delete env.TEMPORAL_ADDRESS;
    delete env.DATABASE_URL;
    // Through the tsx CLI, as `npm start` runs it: tsx relays signals to its child, which is part of
    // what a real Ctrl-C does.
    child = spawn(path.join(PROJECT_ROOT, 'node_modules/.bin/tsx'), ['scripts/dev.ts'], {
      cwd: PROJECT_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, as a shell gives a foreground job.
      detached: true,
    });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    await eventually(
      () => {
        if (child.exitCode !== null) throw new Error(`the launcher exited with ${child.exitCode}:\n${output}`);
        return output.includes('labloop is running') ? true : undefined;
      },
      180_000,
      () => `the launcher to start; output so far:\n${output}`,
    );
  });

  after(async () => {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  const url = (label: string): string => {
    const match = new RegExp(`^\\s+${label}\\s+(?:POST )?(\\S+)`, 'm').exec(output);
    assert.ok(match?.[1], `the launcher printed the ${label} URL`);
    return match[1];
  };

  it('prints and serves the API, the Temporal UI and the sandbox outboxes', async () => {
    assert.equal((await fetch(`${url('API')}/healthz`)).status, 200);
    assert.equal((await fetch(`${url('API')}/readyz`)).status, 200);
    assert.equal((await fetch(url('Temporal Web UI'))).status, 200);
    for (const label of ['Sandbox Twilio', 'Sandbox Spruce', 'Sandbox athena']) {
      const response = await fetch(url(label));
      assert.equal(response.status, 200, label);
      assert.match(response.headers.get('content-type') ?? '', /html/);
    }
  });

  it('runs the seeded demo through it, following each result to its outcome', async () => {
    const demo = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--wait-seconds', '90'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, LABLOOP_DATA_DIR: dataDir },
      encoding: 'utf8',
      timeout: 150_000,
    });
    const printed = demo.stdout + demo.stderr;
    assert.equal(demo.status, 0, printed);
    const demoLeaks = scanForPhi(printed.split('\n'), fixturePhi(), (i) => `demo output line ${i + 1}`);
    assert.deepEqual(demoLeaks, [], describeLeaks(demoLeaks));
    assert.match(demo.stdout, /normal-signed\.hl7 over HTTPS → HTTP 202, ACK AA/);
    assert.match(demo.stdout, /abnormal-unsigned\.hl7 over MLLP → MSA\|AA\|DEMO-A-0001/);
    assert.match(demo.stdout, /critical-unsigned\.hl7 over HTTPS → HTTP 202, ACK AA/);
    // The outcomes, as the status URLs report them.
    assert.match(demo.stdout, /^normal-signed\.hl7: SMS delivered to the patient/m, printed);
    assert.match(demo.stdout, /^abnormal-unsigned\.hl7: waiting for a provider's sign-off in the review app at http/m);
    assert.match(demo.stdout, /^critical-unsigned\.hl7: on-call provider paged at .+ and call task .+ opened/m);

    // And the fake Twilio holds exactly that one generic text.
    const { messages } = (await (await freshFetch(`${url('Sandbox Twilio')}/__fake/messages`)).json()) as {
      messages: { to: string; status: string; body: string; direction: string }[];
    };
    const toPatient = messages.filter((m) => m.to === DEMO_PHONE && m.direction === 'outbound-api');
    assert.equal(toPatient.length, 1, JSON.stringify(messages));
    assert.equal(toPatient[0]?.status, 'delivered');
    assert.match(toPatient[0]?.body ?? '', /your lab results are ready in your patient portal/);

    const state = JSON.parse(readFileSync(path.join(dataDir, 'sandbox-running.json'), 'utf8')) as {
      urls: { api: string };
    };
    assert.equal(state.urls.api, url('API'));
  });

  it('stops cleanly on Ctrl-C to its process group: no child left, every port freed', async () => {
    const pid = child.pid;
    assert.ok(pid !== undefined);
    const children = descendants(pid);
    const names = children.map((c) => c.cmd).join('\n');
    assert.ok(
      children.some((c) => /\btemporal\b.*server start-dev/.test(c.cmd)),
      `the Temporal CLI runs under the launcher:\n${names}`,
    );
    assert.ok(
      children.some((c) => /postgres/.test(c.cmd)),
      `PostgreSQL runs under the launcher:\n${names}`,
    );
    const ports = [
      'API',
      'HL7 over MLLP',
      'Temporal',
      'Temporal Web UI',
      'Sandbox Twilio',
      'Sandbox Spruce',
      'Sandbox athena',
    ].map((label) => Number(/:(\d+)\/?$/.exec(url(label))?.[1]));
    // PostgreSQL's port is not printed; the server's command line names it.
    const pgPort = children.map((c) => /postgres.* -p (\d+)/.exec(c.cmd)?.[1]).find((p) => p !== undefined);
    if (pgPort !== undefined) ports.push(Number(pgPort));
    assert.ok(
      ports.every((p) => Number.isInteger(p) && p > 0),
      `ports: ${ports.join(', ')}`,
    );

    process.kill(-pid, 'SIGINT');
    const { code, signal } = await exited;
    assert.equal(signal, null, output.slice(-3000));
    assert.equal(code, 0, output.slice(-3000));
    assert.match(output, /\[labloop\] stopped/);
    assert.doesNotMatch(output.split('SIGINT: stopping')[1] ?? '', /second signal|Error|error:/i);

    const leaks = scanForPhi(output.split('\n'), fixturePhi(), (i) => `launcher output line ${i + 1}`);
    assert.deepEqual(leaks, [], describeLeaks(leaks));

    await eventually(
      () => (children.every((c) => !alive(c.pid)) ? true : undefined),
      15_000,
      () =>
        `every child to exit; still running:\n${children
          .filter((c) => alive(c.pid))
          .map((c) => c.cmd)
          .join('\n')}`,
    );
    const taken: number[] = [];
    for (const port of ports) if (!(await portIsFree(port))) taken.push(port);
    assert.deepEqual(taken, [], `ports still taken after stop (of ${ports.join(', ')})`);
  });
});
