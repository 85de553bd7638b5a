import { createHash } from 'node:crypto';
import { ANCHOR_OBJECT_NAME, type AnchorStore } from './anchor-store';
import { amzDate, sha256Hex, signV4, type SigV4Credentials } from './sigv4';

/**
 * Signed anchors in an S3 bucket with Object Lock (docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html):
 * every object is PUT with `x-amz-object-lock-mode` (COMPLIANCE by default: nobody, the root
 * account included, can delete or overwrite it before its retain-until date) and
 * `x-amz-object-lock-retain-until-date`, Content-MD5 (S3 requires it with Object Lock headers), and
 * `If-None-Match: *` so an existing name is never replaced (412: it exists). The bucket must have
 * Object Lock enabled (it implies versioning); the credentials need s3:PutObject,
 * s3:PutObjectRetention, s3:GetObject and s3:ListBucket, and should have nothing else.
 */
export interface S3AnchorStoreOptions extends SigV4Credentials {
  /** `https://host/bucket[/prefix]`, path style. */
  url: string;
  retentionDays: number;
  lockMode: 'COMPLIANCE' | 'GOVERNANCE';
  fetch?: typeof fetch;
  now?: () => Date;
}

export class S3AnchorStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'S3AnchorStoreError';
  }
}

export function s3AnchorStore(options: S3AnchorStoreOptions): AnchorStore {
  const base = new URL(options.url);
  const [bucket = '', ...prefixParts] = base.pathname.split('/').filter(Boolean);
  if (bucket === '')
    throw new S3AnchorStoreError(`AUDIT_ANCHOR_S3_URL must name a bucket: ${base.origin}/BUCKET[/prefix]`);
  const prefix = prefixParts.length === 0 ? '' : `${prefixParts.join('/')}/`;
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? (() => new Date());

  async function request(method: string, url: URL, body = '', extra: Record<string, string> = {}) {
    const payloadHash = sha256Hex(body);
    const headers: Record<string, string> = {
      host: url.host,
      'x-amz-date': amzDate(now()),
      'x-amz-content-sha256': payloadHash,
      ...extra,
    };
    headers.authorization = signV4({ method, url, headers: { ...headers }, payloadHash }, options);
    return doFetch(url, { method, headers, ...(method === 'PUT' ? { body } : {}) });
  }
  const objectUrl = (name: string) => new URL(`/${bucket}/${prefix}${name}`, base.origin);
  const fail = async (what: string, response: Response) =>
    new S3AnchorStoreError(`${what}: S3 answered ${response.status} ${(await response.text()).slice(0, 300)}`);

  return {
    description: `s3://${bucket}/${prefix}`,
    async put(name, body) {
      if (!ANCHOR_OBJECT_NAME.test(name)) throw new S3AnchorStoreError(`not an anchor object name: ${name}`);
      const retainUntil = new Date(now().getTime() + options.retentionDays * 86_400_000);
      const response = await request('PUT', objectUrl(name), body, {
        'content-type': 'application/json',
        'content-md5': createHash('md5').update(body, 'utf8').digest('base64'),
        'if-none-match': '*',
        'x-amz-object-lock-mode': options.lockMode,
        'x-amz-object-lock-retain-until-date': retainUntil.toISOString(),
      });
      if (response.status === 412) return 'exists';
      if (!response.ok) throw await fail(`PUT ${name}`, response);
      return 'written';
    },
    async list() {
      const names: string[] = [];
      let token: string | undefined;
      do {
        const url = new URL(`/${bucket}`, base.origin);
        url.searchParams.set('list-type', '2');
        if (prefix !== '') url.searchParams.set('prefix', prefix);
        if (token !== undefined) url.searchParams.set('continuation-token', token);
        const response = await request('GET', url);
        if (!response.ok) throw await fail('list', response);
        const xml = await response.text();
        for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) {
          const name = xmlText(m[1] ?? '').slice(prefix.length);
          if (ANCHOR_OBJECT_NAME.test(name)) names.push(name);
        }
        token = /<IsTruncated>true<\/IsTruncated>/.test(xml)
          ? xmlText(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1] ?? '')
          : undefined;
      } while (token !== undefined && token !== '');
      return names;
    },
    async get(name) {
      const response = await request('GET', objectUrl(name));
      if (!response.ok) throw await fail(`GET ${name}`, response);
      return response.text();
    },
  };
}

function xmlText(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}
