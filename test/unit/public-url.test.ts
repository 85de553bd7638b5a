import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { publicUrl, resultStatusUrl } from '../../lib/public-url';

describe('URLs under PUBLIC_BASE_URL', () => {
  it('keeps the base path of a deployment behind a prefixing proxy', () => {
    assert.equal(
      publicUrl('https://example.org/labloop/', '/review/auth/callback'),
      'https://example.org/labloop/review/auth/callback',
    );
    assert.equal(
      publicUrl('https://example.org/labloop', '/webhooks/spruce?x=1'),
      'https://example.org/labloop/webhooks/spruce?x=1',
    );
  });

  it('works at the root, with or without a trailing slash', () => {
    assert.equal(publicUrl('http://127.0.0.1:3000', '/healthz'), 'http://127.0.0.1:3000/healthz');
    assert.equal(publicUrl('http://127.0.0.1:3000/', 'healthz'), 'http://127.0.0.1:3000/healthz');
  });

  it('builds the status URL of a result under the prefix', () => {
    assert.equal(
      resultStatusUrl('https://example.org/labloop', 'lab-result-195900-abc'),
      'https://example.org/labloop/v1/results/lab-result-195900-abc',
    );
  });
});
