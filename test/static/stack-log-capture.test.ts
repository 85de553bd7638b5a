import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/tools';

/**
 * "No PHI in a log line" is tested on every end-to-end run: startTestStack (test/support/stack.ts)
 * captures every log line of the stack and its stop() fails the file if one carries fixture PHI.
 * That only holds if no test starts the loop another way. So:
 *  - no test file but test/support/stack.ts may import or call sandbox/stack's startStack;
 *  - startTestStack may not be given a log level or destination (they would bypass the capture);
 *  - a test that runs the launcher (scripts/dev.ts) in a child process searches its output too.
 */
function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...testFiles(full));
    else if (entry.endsWith('.ts')) out.push(full);
  }
  return out;
}

const TEST_DIR = path.join(PROJECT_ROOT, 'test');
const STACK_SUPPORT = path.join(TEST_DIR, 'support', 'stack.ts');
const rel = (file: string) => path.relative(PROJECT_ROOT, file);
const IMPORTS_START_STACK = /import\s*\{[^}]*\bstartStack\b[^}]*\}\s*from\s*['"][./]*\/?sandbox\/stack['"]/;
const CALLS_START_STACK = /(?<![\w.])startStack\s*\(/;

/** What a test file does with stacks, from its text (comments stripped, so prose does not count). */
function usage(file: string) {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1');
  return {
    importsStartStack: IMPORTS_START_STACK.test(text),
    callsStartStack: CALLS_START_STACK.test(text),
    callsStartTestStack: /\bstartTestStack\s*\(/.test(text),
    passesLogOptions: /startTestStack\s*\([\s\S]{0,600}?\b(logLevel|logDestination)\s*:/.test(text),
    runsLauncher: /scripts\/dev\.ts/.test(text),
    sendsNotesDirectly: /\b(signOffUpdate|annotateUpdate)\b/.test(text),
    registersNotes: /\b(notePatterns|registerPhi)\s*\(/.test(text),
    scansOutput: /\bscanForPhi\s*\(/.test(text),
  };
}

describe('every test stack goes through the log capture', () => {
  const files = testFiles(TEST_DIR).filter((f) => f !== STACK_SUPPORT);

  it('finds the stack-starting tests (the check is not vacuous)', () => {
    const starters = files.filter((f) => usage(f).callsStartTestStack).map(rel);
    for (const expected of [
      'test/e2e/walking-skeleton.test.ts',
      'test/browser/review-app.test.ts',
      'test/integration/phi-logs.test.ts',
    ])
      assert.ok(starters.includes(expected), `${expected} starts its stack with startTestStack`);
    assert.ok(starters.length >= 10, `only ${starters.length} files start a stack`);
  });

  it('no test starts the loop with sandbox/stack directly', () => {
    const bypass = files
      .filter((f) => {
        const u = usage(f);
        return u.importsStartStack || u.callsStartStack;
      })
      .map(rel);
    assert.deepEqual(
      bypass,
      [],
      'start the loop with startTestStack (test/support/stack.ts): it captures every log line and fails the file on PHI',
    );
  });

  it('no test sets the log level or destination of a test stack', () => {
    assert.deepEqual(files.filter((f) => usage(f).passesLogOptions).map(rel), []);
  });

  it('a test that runs the launcher in a child process searches its output for PHI', () => {
    const unscanned = files
      .filter((f) => {
        const u = usage(f);
        return u.runsLauncher && !u.scansOutput;
      })
      .map(rel);
    assert.deepEqual(unscanned, []);
  });

  it("a stack test that signs with a note or annotates past loop.ts's helpers registers that text as PHI itself", () => {
    // signOff and annotate in test/fixtures/e2e/loop.ts register the note and the annotation; an
    // update sent directly does not, and the log scan would not know to look for its text.
    const unregistered = files
      .filter((f) => {
        const u = usage(f);
        return f !== __filename && u.callsStartTestStack && u.sendsNotesDirectly && !u.registersNotes;
      })
      .map(rel);
    assert.deepEqual(unregistered, []);
    const loop = usage(path.join(TEST_DIR, 'fixtures', 'e2e', 'loop.ts'));
    assert.ok(loop.sendsNotesDirectly && loop.registersNotes, 'loop.ts sends both updates and registers their text');
  });

  it('startTestStack itself logs at trace into the capture (nothing a caller passes overrides it) and checks it on stop', () => {
    const text = readFileSync(STACK_SUPPORT, 'utf8');
    assert.match(text, /TEST_STACK_LOG_LEVEL = 'trace'/);
    const call = /startStack\(\{([\s\S]*?)\}\);/.exec(text)?.[1] ?? '';
    const extra = call.indexOf('...options.extra');
    assert.ok(extra >= 0, 'startTestStack passes the extra options to startStack');
    assert.ok(call.indexOf('logLevel: TEST_STACK_LOG_LEVEL') > extra, 'the log level comes after (wins over) extra');
    assert.ok(call.indexOf('logDestination: capture.destination') > extra, 'so does the capture destination');
    assert.match(text, /processLogCapture\(\)/);
    assert.match(text, /async stop\(\)[\s\S]*checkCapturedLogs\(capture/);
  });

  it('the detector sees a direct start (control)', () => {
    // Assembled so this file itself does not match.
    const sample = `import { ${'start'}Stack } from '../../sandbox/stack';\nawait ${'start'}Stack({});`;
    assert.ok(IMPORTS_START_STACK.test(sample));
    assert.ok(CALLS_START_STACK.test(sample));
    assert.ok(!CALLS_START_STACK.test('await startTestStack({});'));
  });
});
