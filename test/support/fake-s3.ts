import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signV4 } from '../../lib/audit/sigv4';

/**
 * A tiny S3 on loopback, for the anchor store's tests: path-style PUT, GET and ListObjectsV2 on one
 * bucket with Object Lock. Like S3 it checks the SigV4 signature (with lib/audit/sigv4.ts, which
 * test/unit/sigv4.test.ts checks against AWS's published example), refuses Object Lock headers
 * without Content-MD5 and a wrong Content-MD5, refuses `If-None-Match: *` on an existing key (412),
 * and refuses DELETE of an object under retention. Unlike S3 it never keeps versions: an overwrite
 * without If-None-Match is refused too (this bucket is write-once, which is all the store needs).
 */
export interface FakeS3 {
  url: string;
  bucket: string;
  objects: Map<string, { body: string; lockMode?: string; retainUntil?: string }>;
  requests: { method: string; key: string; status: number }[];
  close(): Promise<void>;
}

export const FAKE_S3_CREDENTIALS = {
  accessKeyId: 'AKIAFAKES3EXAMPLE',
  secretAccessKey: 'fake/secret/key/for/loopback/only/0000',
  region: 'us-east-1',
};

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeS3(bucket = 'labloop-anchors'): Promise<FakeS3> {
  const objects: FakeS3['objects'] = new Map();
  const requests: FakeS3['requests'] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      const body = await bodyOf(req);
      const [b = '', ...rest] = url.pathname.split('/').filter(Boolean);
      const key = decodeURIComponent(rest.join('/'));
      const reply = (status: number, text = '', type = 'application/xml') => {
        requests.push({ method: req.method ?? '', key, status });
        res.writeHead(status, { 'content-type': type }).end(text);
      };
      const error = (status: number, code: string) => reply(status, `<Error><Code>${code}</Code></Error>`);

      const auth = req.headers.authorization ?? '';
      const signed = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(';') ?? [];
      const headers: Record<string, string> = {};
      for (const name of signed) headers[name] = String(req.headers[name] ?? '');
      const payloadHash = String(req.headers['x-amz-content-sha256'] ?? '');
      const expected = signV4({ method: req.method ?? '', url, headers, payloadHash }, FAKE_S3_CREDENTIALS);
      if (auth !== expected || !signed.includes('host')) return error(403, 'SignatureDoesNotMatch');
      if (payloadHash !== createHash('sha256').update(body).digest('hex'))
        return error(400, 'XAmzContentSHA256Mismatch');
      if (b !== bucket) return error(404, 'NoSuchBucket');

      if (req.method === 'PUT') {
        const lockMode = req.headers['x-amz-object-lock-mode'] as string | undefined;
        const retainUntil = req.headers['x-amz-object-lock-retain-until-date'] as string | undefined;
        const md5 = req.headers['content-md5'];
        if ((lockMode !== undefined || retainUntil !== undefined) && md5 === undefined)
          return error(400, 'InvalidRequest');
        if (md5 !== undefined && md5 !== createHash('md5').update(body).digest('base64'))
          return error(400, 'BadDigest');
        if (objects.has(key)) return error(req.headers['if-none-match'] === '*' ? 412 : 403, 'PreconditionFailed');
        objects.set(key, { body, ...(lockMode ? { lockMode } : {}), ...(retainUntil ? { retainUntil } : {}) });
        return reply(200);
      }
      if (req.method === 'DELETE') {
        const o = objects.get(key);
        if (o?.retainUntil !== undefined && new Date(o.retainUntil) > new Date()) return error(403, 'AccessDenied');
        objects.delete(key);
        return reply(204);
      }
      if (req.method === 'GET' && key === '' && url.searchParams.get('list-type') === '2') {
        const prefix = url.searchParams.get('prefix') ?? '';
        const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
        // Pages of two, so the store's continuation is exercised.
        const start = Number(url.searchParams.get('continuation-token') ?? '0');
        const page = keys.slice(start, start + 2);
        const more = start + 2 < keys.length;
        return reply(
          200,
          `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>${bucket}</Name>` +
            page.map((k) => `<Contents><Key>${k}</Key></Contents>`).join('') +
            `<IsTruncated>${more}</IsTruncated>${more ? `<NextContinuationToken>${start + 2}</NextContinuationToken>` : ''}</ListBucketResult>`,
        );
      }
      if (req.method === 'GET') {
        const o = objects.get(key);
        return o === undefined ? error(404, 'NoSuchKey') : reply(200, o.body, 'application/json');
      }
      return error(405, 'MethodNotAllowed');
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bucket,
    objects,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
