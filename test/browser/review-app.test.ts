import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import type { Stack } from '../../sandbox/stack';
import type { LabResult } from '../../domain/lab-result';
import {
  getStatusQuery,
  LAB_RESULT_WORKFLOW_TYPE,
  labResultWorkflowId,
  resultReceivedSignal,
} from '../../workflows/definitions';
import { SANDBOX_PASSWORD } from '../../sandbox/oidc-provider';
import {
  collectPageErrors,
  horizontalOverflow,
  launchBrowser,
  screenshot,
  unlabelledControls,
  VIEWPORTS,
  type TestBrowser,
} from '../support/browser';
import { hl7Phi, notePatterns, observationPatterns, personPatterns } from '../support/phi-scan';
import { eventually, registerPhi, startTestStack } from '../support/stack';

/**
 * The review app in real headless Chromium against the whole loop (PostgreSQL, Temporal, worker,
 * API, fakes, the local SSO provider): a provider signs in through single sign-on, sees their queue
 * in order (critical pinned, then by deadline), opens a result, signs it, and the generic SMS shows
 * up at the Twilio fake; a stale page gets a clear "already signed"; staff complete a call task and
 * the workflow is signalled; an administrator downloads an audit export. Queue, result and call pages
 * fit a tablet (820×1180) without sideways scrolling, with Sign, Sign with note and Annotate in
 * reach; every control has an accessible name on every page, after every htmx swap and without
 * JavaScript. Screenshots at laptop and tablet sizes land in test-artifacts/review-app/.
 */

const PROVIDER_LOGIN = 'avery.chen@riverside.example';
const STAFF_LOGIN = 'morgan.lee@riverside.example';
const ADMIN_LOGIN = 'casey.brooks@riverside.example';
const THYROID_NOTE = 'Your thyroid test is normal. No changes needed.';
const LIPID_ANNOTATION = 'Recheck lipids in 3 months.';

interface Seed {
  control: string;
  mrn: string;
  family: string;
  given: string;
  /** 10 digits, NANP. */
  phone: string;
  providerNpi: string;
  panel: string;
  observations: string[];
}

/** An ORU^R01 from the sandbox practice's lab feed (MSH-4 RIVERSIDE routes to practice 195900). */
function oru(seed: Seed): string {
  const area = seed.phone.slice(0, 3);
  const local = seed.phone.slice(3);
  return [
    `MSH|^~\\&|QUESTLAB|RIVERSIDE|LABLOOP|RIVERSIDE|20261124100000-0500||ORU^R01^ORU_R01|${seed.control}|P|2.5.1|||AL|NE`,
    `PID|1||${seed.mrn}^^^RIVERSIDE^MR||${seed.family}^${seed.given}^^^^^L||19790311|F|||1 Main St^^Boston^MA^02118^USA^H||^PRN^CP^^1^${area}^${local}|||ENG`,
    `ORC|RE|PLC-${seed.control}^RIVERSIDE|ACC-${seed.control}^QUESTLAB||CM||||20261124083000|||${seed.providerNpi}^Doctor^Ordering^^^^MD`,
    `OBR|1|PLC-${seed.control}^RIVERSIDE|ACC-${seed.control}^QUESTLAB|${seed.panel}|||20261124084500|||||||||${seed.providerNpi}^Doctor^Ordering^^^^MD||||||20261124095900-0500|||F`,
    ...seed.observations.map((obx, i) => `OBX|${i + 1}|${obx}|||F`),
  ].join('\r');
}

const SEEDS = {
  normalFirst: {
    control: 'BRW-N-0001',
    mrn: 'MRN-B01',
    family: 'Quinn',
    given: 'Nora',
    phone: '6175550141',
    providerNpi: '1234567890',
    panel: '58410-2^CBC panel^LN',
    observations: [
      'NM|718-7^Hemoglobin^LN||13.6|g/dL^^UCUM|12.0-15.5|N',
      'NM|6690-2^WBC^LN||6.4|10*3/uL^^UCUM|4.0-11.0|N',
    ],
  },
  abnormal: {
    control: 'BRW-A-0001',
    mrn: 'MRN-B02',
    family: 'Reyes',
    given: 'Owen',
    phone: '6175550142',
    providerNpi: '1234567890',
    panel: '57698-3^Lipid panel^LN',
    observations: [
      'NM|2093-3^Cholesterol, total^LN||262|mg/dL^^UCUM|<200|H',
      'NM|2085-9^HDL cholesterol^LN||38|mg/dL^^UCUM|>40|L',
    ],
  },
  critical: {
    control: 'BRW-C-0001',
    mrn: 'MRN-B03',
    family: 'Alvarez',
    given: 'Rosa',
    phone: '6175550143',
    providerNpi: '1234567890',
    panel: '2823-3^Potassium^LN',
    observations: ['NM|2823-3^Potassium^LN||6.9|mmol/L^^UCUM|3.5-5.1|HH'],
  },
  normalSecond: {
    control: 'BRW-N-0002',
    mrn: 'MRN-B04',
    family: 'Stone',
    given: 'Paul',
    phone: '6175550144',
    providerNpi: '1234567890',
    panel: '3016-3^TSH^LN',
    observations: ['NM|3016-3^TSH^LN||2.1|mIU/L^^UCUM|0.4-4.0|N'],
  },
  colleagues: {
    control: 'BRW-N-0003',
    mrn: 'MRN-B05',
    family: 'Young',
    given: 'Iris',
    phone: '6175550145',
    providerNpi: '1234567891',
    panel: '2345-7^Glucose^LN',
    observations: ['NM|2345-7^Glucose^LN||88|mg/dL^^UCUM|70-99|N'],
  },
} satisfies Record<string, Seed>;
type SeedName = keyof typeof SEEDS;
/** The order the results are posted in (received time breaks ties between equal deadlines). */
const POST_ORDER: SeedName[] = ['normalFirst', 'abnormal', 'critical', 'normalSecond', 'colleagues'];

describe('review app in Chromium', () => {
  let stack: Stack;
  let browser: TestBrowser;
  const workflowIds = {} as Record<SeedName, string>;
  const nameOf = (workflowId: string | null) =>
    (Object.keys(workflowIds) as SeedName[]).find((k) => workflowIds[k] === workflowId) ?? workflowId;

  before(async () => {
    browser = await launchBrowser();
    // Quiet hours are the workflow tests' business; here the patient window is the whole day.
    stack = await startTestStack({
      policyOverrides: { patientQuietHours: { start: '00:00', end: '00:00' } },
      // This file's patients and notes are searched for in the logs too.
      phi: [...POST_ORDER.flatMap((name) => hl7Phi(oru(SEEDS[name]))), ...notePatterns(THYROID_NOTE, LIPID_ANNOTATION)],
    });
    for (const name of ['normalFirst', 'normalSecond'] as const) {
      await stack.pool.query(
        `INSERT INTO sms_consent (practice_id, patient_id, phone_e164, consented, source) VALUES ('195900', $1, $2, true, 'staff')`,
        [SEEDS[name].mrn, `+1${SEEDS[name].phone}`],
      );
    }
    for (const name of POST_ORDER) {
      const response = await fetch(`${stack.urls.api}/v1/hl7`, {
        method: 'POST',
        headers: {
          'content-type': 'application/hl7-v2',
          accept: 'application/json',
          authorization: `Bearer ${stack.secrets.apiToken}`,
        },
        body: oru(SEEDS[name]),
      });
      const json = (await response.json()) as { ack: string; results: { workflowId: string }[] };
      assert.equal(json.ack, 'AA', `${name} accepted`);
      workflowIds[name] = json.results[0]?.workflowId ?? '';
    }
    await eventually(
      async () => {
        const { rowCount } = await stack.pool.query(`SELECT 1 FROM review_item WHERE workflow_id = ANY($1)`, [
          Object.values(workflowIds),
        ]);
        return rowCount === POST_ORDER.length ? true : undefined;
      },
      60_000,
      () => 'the workflows to fill the review queue (review_item rows written by the upsertReviewItem activity)',
    );
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function ssoSignIn(page: Page, login: string): Promise<void> {
    await page.goto(`${stack.urls.review}/queue`);
    await page.waitForURL(/\/review\/login\?next=/);
    await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
    await page.waitForURL((url) => url.origin === stack.urls.oidc);
    await page.getByLabel('Email or username').fill(login);
    await page.getByLabel('Password').fill(SANDBOX_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/review\/queue$/);
  }

  async function assertLabelled(page: Page, what: string): Promise<void> {
    assert.deepEqual(await unlabelledControls(page), [], `every control on the ${what} has an accessible name`);
  }

  /** No sideways scrolling: the document is no wider than the window. */
  async function assertFits(page: Page, what: string): Promise<void> {
    const { excess, culprits } = await horizontalOverflow(page);
    assert.equal(
      excess,
      0,
      `the ${what} overflows the ${page.viewportSize()?.width}-px viewport: ${culprits.join(', ')}`,
    );
  }

  /** At tablet size: fits, every control labelled, a screenshot; then `more`, then back to the laptop size. */
  async function atTablet(page: Page, name: string, what: string, more?: () => Promise<void>): Promise<void> {
    await page.setViewportSize(VIEWPORTS.tablet);
    try {
      await assertFits(page, `${what} at tablet size`);
      await assertLabelled(page, `${what} at tablet size`);
      await screenshot(page, `${name}-tablet`);
      await more?.();
    } finally {
      await page.setViewportSize(VIEWPORTS.laptop);
    }
  }

  /** The control is on screen and would take a click (visible, enabled, not covered), without clicking it. */
  async function assertClickable(scope: Page | Locator, name: string): Promise<void> {
    const control = scope.getByRole('button', { name, exact: true });
    assert.equal(await control.count(), 1, `one "${name}" button`);
    assert.ok(await control.isVisible(), `"${name}" is visible`);
    await control.click({ trial: true, timeout: 5_000 });
  }

  async function queueOrder(page: Page): Promise<(string | null)[]> {
    const ids: (string | null)[] = [];
    for (const row of await page.locator('table.queue tbody tr').all())
      ids.push(await row.getAttribute('data-workflow-id'));
    return ids.map(nameOf);
  }

  let provider: Page;
  let providerErrors: string[] = [];

  it('signs a provider in through SSO and shows their queue: critical pinned, then by sign-off deadline', async () => {
    const context = await browser.newContext('laptop');
    provider = await context.newPage();
    providerErrors = collectPageErrors(provider);
    await provider.goto(`${stack.urls.review}/login`);
    await screenshot(provider, 'login-laptop');
    await assertLabelled(provider, 'sign-in page');
    await ssoSignIn(provider, PROVIDER_LOGIN);

    await provider.getByRole('heading', { name: 'Review queue' }).waitFor();
    assert.deepEqual(
      await queueOrder(provider),
      ['critical', 'abnormal', 'normalFirst', 'normalSecond'],
      "Dr. Chen's results, not a colleague's",
    );
    const rows = provider.locator('table.queue tbody tr');
    const badge = async (i: number) => (await rows.nth(i).locator('.badge').first().textContent())?.trim();
    assert.deepEqual(
      [await badge(0), await badge(1), await badge(2)],
      ['Critical', 'Abnormal', 'Normal'],
      'acuity badges in words',
    );
    assert.match(
      await rows.nth(1).locator('.deadline').innerText(),
      /^(\d+ (d|h|min).* left|Overdue by .+)$/,
      'time left is shown',
    );
    await assertLabelled(provider, 'queue');
    await assertFits(provider, 'queue');
    await screenshot(provider, 'queue-laptop');
    await atTablet(provider, 'queue', 'queue');

    await provider.getByRole('link', { name: 'All practice results' }).click();
    await provider.waitForURL(/scope=practice/);
    assert.deepEqual(await queueOrder(provider), ['critical', 'abnormal', 'normalFirst', 'normalSecond', 'colleagues']);
  });

  it('opens a result with its values, ranges and flags, signs it, shows the new state, and the SMS reaches the Twilio fake', async () => {
    await provider.goto(`${stack.urls.review}/queue`);
    await provider.getByRole('link', { name: /Nora Quinn/ }).click();
    await provider.getByRole('heading', { name: /CBC panel/ }).waitFor();
    const hemoglobin = provider.getByRole('row', { name: /Hemoglobin/ });
    assert.match(await hemoglobin.innerText(), /13\.6[\s\S]*g\/dL[\s\S]*12\.0-15\.5[\s\S]*N · Normal/);
    await assertLabelled(provider, 'result page');
    await assertFits(provider, 'result page');
    await screenshot(provider, 'result-laptop');
    await atTablet(provider, 'result', 'result page', async () => {
      for (const name of ['Sign', 'Sign with note to patient', 'Annotate']) await assertClickable(provider, name);
    });

    await provider.getByRole('button', { name: 'Sign', exact: true }).click();
    await provider.getByRole('status').filter({ hasText: 'Signed.' }).waitFor();
    assert.match(await provider.getByTestId('signed-by').innerText(), /Signed by Dr\. Avery Chen/);
    await assertLabelled(provider, 'result page after signing (htmx swap)');
    assert.equal(
      await provider.getByRole('button', { name: 'Sign', exact: true }).count(),
      0,
      'no Sign button once signed',
    );
    await screenshot(provider, 'result-signed-laptop');

    // The history, oldest first: received, held for sign-off, signed by the provider.
    await provider.reload();
    const history = provider.locator('section[aria-labelledby="history-heading"] ol.history li');
    const entries = (await history.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
    assert.match(entries[0] ?? '', /Result received$/, entries.join(' | '));
    const signedAt = entries.findIndex((e) => /sign-off · signed by Dr\. Avery Chen$/.test(e));
    assert.ok(signedAt > 0, `the sign-off is in the history: ${entries.join(' | ')}`);
    const heldAt = entries.findIndex((e) => /hold · awaiting-sign-off$/.test(e));
    assert.ok(heldAt > 0 && heldAt < signedAt, `held for sign-off before it was signed: ${entries.join(' | ')}`);
    const times = await history
      .locator('time')
      .evaluateAll((els) =>
        els.map((el) => Date.parse((el as unknown as { getAttribute(n: string): string }).getAttribute('datetime'))),
      );
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
      'in time order',
    );

    const phone = `+1${SEEDS.normalFirst.phone}`;
    const sms = await eventually(
      () => stack.fakes.twilio.messages().find((m) => m.to === phone),
      60_000,
      'the generic SMS to the patient at the Twilio fake',
    ).catch(async (err: unknown) => {
      // Say what the workflow did instead (its status view carries no PHI).
      const view = await stack.temporal.workflow.getHandle(workflowIds.normalFirst).query(getStatusQuery);
      const did = view.actions.map((a) => `${a.kind}/${a.channel ?? '-'}/${a.outcome}`).join(', ');
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}; workflow state ${view.state}, actions: ${did}`,
      );
    });
    for (const phi of ['Quinn', 'Hemoglobin', 'CBC', '13.6', 'MRN-B01', '0141']) {
      assert.ok(!sms.body.includes(phi), `the SMS carries no PHI (${phi})`);
    }

    // Opening the result was a PHI read: audited with who and which result, no content.
    const views = await stack.pool.query<{ actor_id: string; details: Record<string, unknown> }>(
      `SELECT actor_id, details FROM audit_log WHERE action = 'phi-access' AND outcome = 'viewed' AND workflow_id = $1`,
      [workflowIds.normalFirst],
    );
    assert.ok(views.rows.length >= 1, 'viewing the result is in the audit log');
    assert.equal(views.rows[0]?.actor_id, 'prov-1');

    await eventually(
      async () => {
        await provider.goto(`${stack.urls.review}/queue`);
        const order = await queueOrder(provider);
        return order.includes('normalFirst') ? undefined : order;
      },
      30_000,
      'the signed result to leave the queue',
    );
  });

  it('tells a stale page that the result was already signed, and does not sign it twice', async () => {
    const first = provider;
    const second = await provider.context().newPage();
    const url = `${stack.urls.review}/results/${workflowIds.normalSecond}`;
    await first.goto(url);
    await second.goto(url);

    await first.getByLabel(/Note to the patient/).fill(THYROID_NOTE);
    await first.getByRole('button', { name: 'Sign with note to patient' }).click();
    await first.getByRole('status').filter({ hasText: 'Signed with your note' }).waitFor();
    await assertLabelled(first, 'result page after signing with a note (htmx swap)');

    await second.getByRole('button', { name: 'Sign', exact: true }).click();
    const warning = second.getByRole('status').filter({ hasText: 'already signed' });
    await warning.waitFor();
    assert.match(await warning.innerText(), /already signed by Dr\. Avery Chen .*not recorded again/);
    await assertLabelled(second, 'result page with the already-signed warning (htmx swap)');
    await screenshot(second, 'result-already-signed-laptop');
    await second.close();
  });

  it('saves an annotation on a result', async () => {
    await provider.goto(`${stack.urls.review}/results/${workflowIds.abnormal}`);
    await provider.getByLabel(/Annotation for the care team/).fill(LIPID_ANNOTATION);
    await provider.getByRole('button', { name: 'Annotate' }).click();
    await provider.getByRole('status').filter({ hasText: 'Annotation saved' }).waitFor();
    assert.match(await provider.locator('#result-actions').innerText(), /Recheck lipids in 3 months\./);
    await assertLabelled(provider, 'result page after saving an annotation (htmx swap)');
  });

  it('works without JavaScript: the Sign form posts, redirects and shows the outcome', async () => {
    const context = await browser.newContext('laptop', { javaScript: false });
    const page = await context.newPage();
    await ssoSignIn(page, PROVIDER_LOGIN);
    await page.goto(`${stack.urls.review}/results/${workflowIds.abnormal}`);
    await assertLabelled(page, 'result page without JavaScript');
    await page.getByRole('button', { name: 'Sign', exact: true }).click();
    await page.waitForURL(/\?notice=signed$/);
    await page.getByRole('status').filter({ hasText: 'Signed.' }).waitFor();
    assert.match(await page.getByTestId('signed-by').innerText(), /Signed by Dr\. Avery Chen/);
    await assertLabelled(page, 'signed result page without JavaScript');
    await screenshot(page, 'result-signed-no-js-laptop');
    await context.close();
  });

  it('lets staff complete an open call task, which closes it and signals the workflow', async () => {
    // A critical result gets an urgent outbound-call task from its workflow.
    const taskId = await eventually(
      async () => {
        const { rows } = await stack.pool.query<{ id: string }>(
          `SELECT id FROM call_task WHERE workflow_id = $1 AND status = 'open' AND reason = 'critical-result'`,
          [workflowIds.critical],
        );
        return rows[0]?.id;
      },
      30_000,
      "the critical result's call task",
    );
    const context = await browser.newContext('tablet');
    const staff = await context.newPage();
    await ssoSignIn(staff, STAFF_LOGIN);
    await staff.getByRole('link', { name: 'Call tasks' }).click();
    await staff.getByRole('heading', { name: 'Call tasks', level: 1 }).waitFor();
    const task = staff.locator(`#call-${taskId}`);
    assert.match(await task.innerText(), /Call Rosa Alvarez[\s\S]*\+16175550143[\s\S]*Critical result/);
    await assertLabelled(staff, 'call tasks page');
    await assertFits(staff, 'call tasks page at tablet size');
    await assertClickable(task, 'Mark call completed');
    await screenshot(staff, 'calls-tablet');

    await task.getByLabel('Call outcome').selectOption('reached');
    await task.getByRole('button', { name: 'Mark call completed' }).click();
    await staff.getByRole('status').filter({ hasText: 'Call recorded: Reached the patient' }).waitFor();
    await assertLabelled(staff, 'call tasks page after completing a call (htmx swap)');
    await screenshot(staff, 'calls-completed-tablet');

    const { rows } = await stack.pool.query<{ status: string; outcome: string; completed_by: string }>(
      `SELECT status, outcome, completed_by FROM call_task WHERE id = $1`,
      [taskId],
    );
    assert.deepEqual(rows[0], { status: 'completed', outcome: 'reached', completed_by: 'staff-1' });
    const history = await stack.temporal.workflow.getHandle(workflowIds.critical).fetchHistory();
    const signals = (history.events ?? []).filter(
      (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'callCompleted',
    );
    assert.equal(signals.length, 1, 'the workflow received one callCompleted signal');

    // Staff may read results but have no Sign button.
    await staff.goto(`${stack.urls.review}/results/${workflowIds.critical}`);
    await staff.getByText('Only providers can sign results.').waitFor();
    assert.equal(await staff.getByRole('button', { name: 'Sign', exact: true }).count(), 0);
    await context.close();
  });

  it('explains a sign-off the workflow refuses, and a result that does not exist', async () => {
    // A workflow whose policy snapshot no longer lists Dr. Chen as a provider (say, the role changed
    // after the result arrived): the review app lets her try, the workflow's validator refuses.
    const policy = structuredClone(stack.practices.policy('195900')!);
    policy.staff = policy.staff.map((s) => (s.id === 'prov-1' ? { ...s, role: 'staff' as const } : s));
    const workflowId = labResultWorkflowId('195900', randomBytes(16).toString('hex'));
    const result: LabResult = {
      source: 'hl7',
      practiceId: '195900',
      resultId: `BRW-R-${workflowId.slice(-6)}`,
      messageId: 'BRW-R-0001',
      status: 'final',
      panelName: 'Vitamin D',
      patient: { id: 'MRN-B06', firstName: 'Lena', lastName: 'Hart' },
      orderingProvider: { id: '1234567890' },
      observations: [
        { code: '1989-3', name: 'Vitamin D, 25-OH', value: '31', units: 'ng/mL', referenceRange: '30-100', flag: 'N' },
      ],
    };
    registerPhi([
      ...personPatterns({ firstName: 'Lena', lastName: 'Hart' }),
      ...observationPatterns({ name: 'Vitamin D, 25-OH', code: '1989-3', value: '31', unit: 'ng/mL', range: '30-100' }),
    ]);
    const receivedAt = new Date().toISOString();
    // Started the way the ingest API starts every result: signal-with-start.
    await stack.temporal.workflow.signalWithStart(LAB_RESULT_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: stack.taskQueue,
      args: [{ result, receivedAt, policy }],
      signal: resultReceivedSignal,
      signalArgs: [{ result, receivedAt }],
    });
    // A brand-new workflow answers its first query once the worker has run its first task; on a
    // loaded machine that can outlast the page's query deadline (a 503 page), so load until it shows.
    await eventually(
      async () => {
        await provider.goto(`${stack.urls.review}/results/${workflowId}`);
        return (await provider.getByRole('heading', { name: /Vitamin D/ }).count()) > 0 ? true : undefined;
      },
      60_000,
      'the new result to open in the review app',
    );
    // As if the page had been rendered in the moment before the workflow took in its first message
    // (it then reports version 0): that is the same result, not a newer one, so the sign-off must
    // still reach the workflow (regression: it was refused as "updated after you opened it").
    await provider
      .locator('input[name="version"]')
      .first()
      .evaluate((el) => {
        // Runs in the page; typed structurally because the test's TypeScript has no DOM library.
        (el as unknown as { value: string }).value = '0';
      });
    await provider.getByRole('button', { name: 'Sign', exact: true }).click();
    const refusal = provider.getByRole('alert').first();
    await refusal.waitFor().catch(async (err: unknown) => {
      // Say what the page showed instead (a timeout notice, an error page): it names the cause.
      const shown = (
        await provider
          .locator('main')
          .innerText()
          .catch(() => '(no main)')
      ).slice(0, 600);
      throw new Error(`${err instanceof Error ? err.message : String(err)}\npage showed: ${shown}`);
    });
    assert.match(await refusal.innerText(), /^The result was not signed: .+/);
    assert.match(await provider.getByTestId('result-state').innerText(), /Waiting/, 'still unsigned');
    await assertLabelled(provider, 'result page with the refused sign-off (htmx swap)');
    await screenshot(provider, 'result-sign-refused-laptop');

    const missing = await provider.goto(
      `${stack.urls.review}/results/${labResultWorkflowId('195900', randomBytes(16).toString('hex'))}`,
    );
    assert.equal(missing?.status(), 404);
    await provider.getByRole('heading', { name: 'Result not found' }).waitFor();
  });

  it('lets an administrator download an audit export from the Audit export page', async () => {
    const context = await browser.newContext('laptop');
    const admin = await context.newPage();
    const adminErrors = collectPageErrors(admin);
    await ssoSignIn(admin, ADMIN_LOGIN);
    await admin.getByRole('link', { name: 'Audit export' }).click();
    await admin.getByRole('heading', { name: 'Audit export', level: 1 }).waitFor();
    await assertLabelled(admin, 'audit export page');
    for (const label of ['From (inclusive)', 'To (exclusive)', 'Format'])
      assert.ok(await admin.getByLabel(label).isVisible(), `"${label}" labels its field`);
    await assertFits(admin, 'audit export page');
    await screenshot(admin, 'audit-export-laptop');
    await atTablet(admin, 'audit-export', 'audit export page');

    await admin.getByLabel('Format').selectOption('csv');
    const [download, response] = await Promise.all([
      admin.waitForEvent('download'),
      admin.waitForResponse((r) => r.url().includes('/v1/audit/export')),
      admin.getByRole('button', { name: 'Download the audit export' }).click(),
    ]);
    assert.equal(response.status(), 200);
    assert.equal(response.headers()['content-type'], 'text/csv; charset=utf-8; header=present');
    assert.match(download.suggestedFilename(), /^labloop-audit-.+\.csv$/);
    const csv = readFileSync(await download.path(), 'utf8');
    const records = csv.split('\r\n').filter((l) => l !== '');
    assert.match(records[0] ?? '', /^seq,occurred_at,/, 'the header row');
    const rows = records.slice(1, -1);
    assert.ok(rows.length > 5, `the export has rows (${rows.length}): ${response.url()}\n${csv.slice(0, 600)}`);
    assert.ok(
      rows.some((r) => r.includes(workflowIds.normalFirst) && r.includes(',sign-off,')),
      'the sign-off made in this run is in it',
    );
    assert.match(
      records.at(-1) ?? '',
      /^#audit_chain_head,seq=\d+,row_hash=[0-9a-f]{64},anchored_at=/,
      'the chain head trailer',
    );
    assert.deepEqual(adminErrors, []);
    await context.close();
  });

  it('ran every page without a script error or a Content-Security-Policy violation', () => {
    // A 404 page load logs "Failed to load resource"; anything else is a real problem.
    assert.deepEqual(
      providerErrors.filter(
        (e) => !/Failed to load resource: the server responded with a status of (403|404|409)/.test(e),
      ),
      [],
    );
  });

  it('signs out: the session is gone and the queue asks for sign-in again', async () => {
    await provider.goto(`${stack.urls.review}/queue`);
    await provider.getByRole('button', { name: 'Sign out' }).click();
    await provider.getByRole('status').filter({ hasText: 'You are signed out.' }).waitFor();
    await provider.goto(`${stack.urls.review}/queue`);
    await provider.waitForURL(/\/review\/login\?next=/);
  });
});
