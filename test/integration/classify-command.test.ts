import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

/**
 * The `classify` command is a contract other people script against: it is tested by spawning it,
 * through npm as documented, and the output is checked byte for byte where the contract fixes it.
 */

const ROOT = path.resolve(__dirname, '../..');
const FIXTURES = path.join(ROOT, 'test/fixtures/hl7');
/** tsx start-up on a busy 2-core machine takes a second or two; this only bounds a hang. */
const COMMAND_TIMEOUT_MS = 30_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      // INIT_CWD pinned: an outer `npm test` started elsewhere must not move relative paths.
      { cwd: options.cwd ?? ROOT, env: options.env ?? { ...process.env, INIT_CWD: ROOT }, timeout: COMMAND_TIMEOUT_MS },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `npm run -s classify -- FILE...`, exactly as documented. */
function classifyViaNpm(...files: string[]): Promise<Run> {
  return run('npm', ['run', '-s', 'classify', '--', ...files]);
}

/** The same script without npm's start-up cost, for the edge cases. */
function classify(files: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/classify.ts'), ...files], options);
}

function fixture(name: string): string {
  return path.join('test/fixtures/hl7', name);
}

function lines(stdout: string): Record<string, unknown>[] {
  assert.ok(stdout === '' || stdout.endsWith('\n'), 'output ends with a newline');
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const scratch = mkdtempSync(path.join(tmpdir(), 'labloop-classify-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

void describe('npm run -s classify', () => {
  void it('prints one JSON line per result, keys in contract order, null for absent units and flag', async () => {
    const { code, stdout, stderr } = await classifyViaNpm(
      fixture('critical-potassium-hh.hl7'),
      fixture('cancelled.hl7'),
    );
    assert.equal(stderr, '');
    assert.equal(code, 0);
    assert.equal(
      stdout,
      [
        '{"source":"hl7","messageControlId":"NL-CRIT-0004","resultId":"FIL-88004","patientId":"MRN300412",' +
          '"status":"final","acuity":"critical","observations":[' +
          '{"code":"2823-3","name":"Potassium","value":"6.8","units":"mmol/L","flag":"HH"},' +
          '{"code":"2951-2","name":"Sodium","value":"138","units":"mmol/L","flag":"N"},' +
          '{"code":"2345-7","name":"Glucose","value":"101","units":"mg/dL","flag":"H"}]}',
        '{"source":"hl7","messageControlId":"NL-CAN-0008","resultId":"FIL-88008","patientId":"MRN100234",' +
          '"status":"cancelled","acuity":"normal","observations":[' +
          '{"code":"3016-3","name":"TSH","value":"Test not performed","units":null,"flag":null}]}',
        '',
      ].join('\n'),
    );
  });

  void it('exits 2 naming the file, message, segment and field of an invalid message', async () => {
    const { code, stdout, stderr } = await classifyViaNpm(fixture('bad-no-pid3.hl7'));
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.equal(stderr, 'test/fixtures/hl7/bad-no-pid3.hl7: message 1: PID-3 (patient identifier list) is missing\n');
  });
});

void describe('classify: files and messages', () => {
  void it('handles several messages per file and every terminator', async () => {
    const { code, stdout } = await classify([
      fixture('batch-three-messages.hl7'),
      fixture('bmp-normal-final-crlf.hl7'),
      fixture('cmp-abnormal-lf.hl7'),
      fixture('mixed-terminators.hl7'),
    ]);
    assert.equal(code, 0);
    const out = lines(stdout);
    assert.deepEqual(
      out.map((l) => [l.messageControlId, l.acuity]),
      [
        ['NL-BAT-0001', 'normal'],
        ['NL-BAT-0002', 'critical'],
        ['NL-BAT-0003', 'abnormal'],
        ['NL-BMP-0002', 'normal'],
        ['NL-LIP-0003', 'abnormal'],
        ['NL-MIX-0017', 'normal'],
      ],
    );
    for (const line of out) {
      assert.deepEqual(Object.keys(line), [
        'source',
        'messageControlId',
        'resultId',
        'patientId',
        'status',
        'acuity',
        'observations',
      ]);
    }
  });

  void it('prints one line per OBR group', async () => {
    const { code, stdout } = await classify([fixture('status-from-obx.hl7')]);
    assert.equal(code, 0);
    assert.deepEqual(
      lines(stdout).map((l) => [l.resultId, l.status]),
      [
        ['FIL-89001', 'final'],
        ['FIL-89002', 'corrected'],
        ['FIL-89003', 'preliminary'],
        ['FIL-89004', 'cancelled'],
      ],
    );
  });

  void it('still prints the valid messages when others are invalid, and exits 2', async () => {
    const { code, stdout, stderr } = await classify([
      fixture('mixed-valid-and-invalid.hl7'),
      fixture('bad-adt-a01.hl7'),
      fixture('preliminary.hl7'),
    ]);
    assert.equal(code, 2);
    assert.deepEqual(
      lines(stdout).map((l) => l.messageControlId),
      ['NL-MIX-0001', 'NL-PRE-0006'],
    );
    assert.equal(
      stderr,
      [
        'test/fixtures/hl7/mixed-valid-and-invalid.hl7: message 2: PID-3 (patient identifier list) is missing',
        'test/fixtures/hl7/bad-adt-a01.hl7: message 1: MSH-9 (message type) "ADT^A01" is not supported: only ORU^R01 is accepted',
        '',
      ].join('\n'),
    );
  });

  void it('names the segment and field for each kind of bad input', async () => {
    const cases: [string, RegExp][] = [
      ['bad-no-obr.hl7', /message 1: OBR segment is missing/],
      ['bad-obx-before-obr.hl7', /message 1: OBX at line 3 is not inside an OBR group/],
      ['bad-garbage.hl7', /message 1: MSH segment is missing/],
      ['bad-truncated-msh.hl7', /message 1: MSH-9 \(message type\) is missing/],
      ['bad-version.hl7', /message 1: MSH-12 \(version ID\) "2\.6" is not supported/],
    ];
    const { code, stdout, stderr } = await classify(cases.map(([f]) => fixture(f)));
    assert.equal(code, 2);
    assert.equal(stdout, '');
    const errors = stderr.trimEnd().split('\n');
    assert.equal(errors.length, cases.length);
    for (const [i, [file, pattern]] of cases.entries()) {
      assert.ok(errors[i]?.startsWith(`test/fixtures/hl7/${file}: `), errors[i]);
      assert.match(errors[i] ?? '', pattern);
    }
  });

  void it('exits 2 with a clear message for a missing file, and still classifies the others', async () => {
    const { code, stdout, stderr } = await classify(['no-such-file.hl7', fixture('preliminary.hl7')]);
    assert.equal(code, 2);
    assert.equal(stderr, 'no-such-file.hl7: cannot read the file: no such file\n');
    assert.equal(lines(stdout).length, 1);
  });

  void it('exits 2 for an empty file and for no arguments', async () => {
    const empty = path.join(scratch, 'empty.hl7');
    writeFileSync(empty, '\n\n');
    const emptyRun = await classify([empty]);
    assert.equal(emptyRun.code, 2);
    assert.match(emptyRun.stderr, /empty\.hl7: no HL7 message found/);

    const noArgs = await classify([]);
    assert.equal(noArgs.code, 2);
    assert.match(noArgs.stderr, /^usage: npm run -s classify -- FILE/);
  });

  void it('reads relative paths from where npm was invoked (INIT_CWD)', async () => {
    const { code, stdout } = await classify(['cancelled.hl7'], {
      cwd: ROOT,
      env: { ...process.env, INIT_CWD: FIXTURES },
    });
    assert.equal(code, 0);
    assert.equal(lines(stdout)[0]?.resultId, 'FIL-88008');
  });
});
