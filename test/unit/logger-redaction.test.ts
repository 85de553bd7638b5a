import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../lib/logger';

/**
 * The logger's safety net (lib/logger.ts): the PHI-bearing keys are censored at the top level and
 * one level down, an error is logged by type and stack frames without its message, and a request by
 * its route pattern, never its URL. Checked on the JSON pino actually writes.
 */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('trace', 'redaction-test', destination), lines };
}

describe('log redaction', () => {
  it('censors body, to, From, patient and the other PHI keys, at the top level and one level down', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        workflowId: 'lab-result-195900-0123456789abcdef0123456789abcdef',
        body: 'Hi Dana, your potassium is 6.9',
        Body: 'STOP',
        to: '+16175550174',
        From: '+16175550174',
        patient: { firstName: 'Dana', lastName: 'Whitcombe', birthDate: '1980-04-02' },
        message: { to: '+16175550174', body: 'Hi Dana', note: 'Eat less salt', sid: 'SM0001' },
        observations: [{ name: 'Potassium', value: '6.9' }],
      },
      'sending',
    );
    assert.equal(lines.length, 1);
    const line = lines[0] ?? {};
    for (const key of ['body', 'Body', 'to', 'From', 'patient', 'observations'])
      assert.equal(line[key], '[redacted]', key);
    assert.deepEqual(line.message, { to: '[redacted]', body: '[redacted]', note: '[redacted]', sid: 'SM0001' });
    assert.equal(line.workflowId, 'lab-result-195900-0123456789abcdef0123456789abcdef', 'IDs stay');
    const text = JSON.stringify(line);
    for (const phi of ['Dana', 'Whitcombe', '1980-04-02', '6175550174', 'potassium', '6.9', 'salt'])
      assert.ok(!text.includes(phi), `${phi} is not in ${text}`);
  });

  it('logs an error by type, code and stack frames, never by its message', () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error('number +16175550174 for Dana Whitcombe is invalid'), { code: 21211 });
    logger.error({ err }, 'send failed');
    const logged = (lines[0]?.err ?? {}) as Record<string, unknown>;
    assert.equal(logged.type, 'Error');
    assert.equal(logged.code, 21211);
    assert.match(String(logged.stack), /^\s+at /);
    assert.ok(!JSON.stringify(lines[0]).includes('6175550174'));
    assert.ok(!JSON.stringify(lines[0]).includes('Whitcombe'));
  });

  it('logs a request by its route pattern, not its URL', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        req: {
          method: 'GET',
          url: '/v1/results/Whitcombe-1980-04-02?phone=6175550174',
          routeOptions: { url: '/v1/results/:workflowId' },
          id: 'req-1',
          headers: { authorization: 'Bearer secret' },
        },
      },
      'incoming request',
    );
    assert.deepEqual(lines[0]?.req, { method: 'GET', route: '/v1/results/:workflowId', id: 'req-1' });
  });

  it('is a real check: an unlisted key is logged as given (control)', () => {
    const { logger, lines } = capture();
    logger.info({ greeting: 'Hi Dana' }, 'control');
    assert.equal(lines[0]?.greeting, 'Hi Dana');
  });
});
