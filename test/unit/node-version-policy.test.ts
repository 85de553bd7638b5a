import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { PROJECT_ROOT, pinnedNode22 } from '../../lib/tools';

/**
 * Runtime versions: the image runs Node 22 LTS, the one test/compat runs the suite's subset on;
 * `engines` asks for 22 (Node 20 is past end of life) while npm on the Node 20 machines only warns;
 * the PostgreSQL image is pinned to a patched minor release.
 */
const read = (file: string) => readFileSync(path.join(PROJECT_ROOT, file), 'utf8');

describe('runtime version policy', () => {
  it('the image runs the pinned Node 22 that test/compat tests', () => {
    const image = /^ARG NODE_IMAGE=node:(\d+\.\d+\.\d+)-bookworm-slim$/m.exec(read('Dockerfile'))?.[1];
    assert.equal(image, pinnedNode22().version);
    assert.equal(image?.split('.')[0], '22');
  });

  it('engines asks for Node 22.13+ (or 24+), not 20; npm warns rather than refuses on 20', () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    assert.equal(engines, '^22.13 || >=24');
    const [major = 0, minor = 0] = pinnedNode22().version.split('.').map(Number);
    assert.ok(major === 22 && minor >= 13, `the pinned Node 22 (${pinnedNode22().version}) satisfies engines`);
    assert.match(read('.npmrc'), /^engine-strict=false$/m);
  });

  it('compose pins PostgreSQL to a patched minor release (16.14, of the current 18.4 / 17.10 / 16.14 set)', () => {
    const compose = parse(read('docker-compose.yml'), { merge: true }) as {
      services: Record<string, { image?: string }>;
    };
    const tag = /^postgres:(\d+)\.(\d+)-bookworm$/.exec(compose.services.postgresql?.image ?? '');
    assert.ok(tag !== null, `postgres:<major>.<minor>-bookworm, got ${compose.services.postgresql?.image}`);
    const [, major, minor] = tag.map(Number);
    assert.ok(major === 16 && (minor ?? 0) >= 14, `PostgreSQL 16.14 or later: ${tag[0]}`);
  });
});
