// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import { builtinModules } from 'node:module';

/**
 * Workflow code runs in Temporal's deterministic sandbox and is replayed from history, so anything
 * that does I/O or reads a clock/randomness outside the SDK's replacements must stay out of it.
 * domain/ holds the pure rules the workflow imports, so it is held to the same standard.
 */
const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);
const forbiddenInDeterministicCode = [
  ...nodeBuiltins,
  'pg',
  'pg-*',
  'twilio',
  'fastify',
  '@fastify/*',
  'pino',
  'node-pg-migrate',
  '@date-fns/tz',
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/testing',
];

const deterministicMessage = 'workflows/ and domain/ must stay deterministic: no Node builtins, I/O clients or clocks.';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      '.tools/**',
      '.data/**',
      'test-artifacts/**',
      'scratch/**',
      'api/review/static/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': ['error', { allow: ['error'] }],
      // Fastify plugins and node:test hooks are async by contract even when a body has nothing to await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          // Exact module names go in `paths`: as gitignore-style `patterns` the builtin names would
          // also match local folders and files that share them (`../domain/…`, `./events`).
          paths: forbiddenInDeterministicCode
            .filter((name) => !name.includes('*'))
            .map((name) => ({ name, message: deterministicMessage })),
          patterns: [
            { group: forbiddenInDeterministicCode.filter((name) => name.includes('*')), message: deterministicMessage },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'Workflow code must not read the environment.' },
        // Timers: Temporal's sandbox turns setTimeout into a durable timer, but labloop uses one
        // idiom, sleep()/condition(), which are cancellable through CancellationScope and read
        // plainly in history; domain/ also runs outside the sandbox, where setTimeout is a real timer.
        ...['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate'].map(
          (name) => ({ name, message: 'Use sleep() / condition() from @temporalio/workflow.' }),
        ),
        { name: 'queueMicrotask', message: 'No scheduling outside the workflow: use sleep() / condition().' },
        { name: 'performance', message: 'No clocks in workflow code.' },
        { name: 'crypto', message: 'No randomness in deterministic code: use uuid4() from @temporalio/workflow.' },
        // Reaching a global through its container would dodge every rule here (globalThis.Date.now()).
        ...['globalThis', 'global', 'window', 'self'].map((name) => ({
          name,
          message: 'No access to globals through their container in deterministic code: name what you need.',
        })),
        // Garbage collection timing differs between runs and replays.
        { name: 'WeakRef', message: 'Not deterministic: collection timing differs on replay.' },
        { name: 'FinalizationRegistry', message: 'Not deterministic: collection timing differs on replay.' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          // Member access, not only calls: `const now = Date.now` is the same clock read, later.
          selector: "MemberExpression[object.name='Date'][property.name='now']",
          message:
            'No clock reads in deterministic code: take "now" as an argument (workflow time comes from the SDK).',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'No clock reads in deterministic code: take "now" as an argument.',
        },
        {
          // Date() without `new` returns the current time as a string, whatever its arguments.
          selector: "CallExpression[callee.name='Date']",
          message: 'No clock reads in deterministic code: Date() is the current time as text.',
        },
        {
          selector: "MemberExpression[object.name='Math'][property.name='random']",
          message: 'No randomness in deterministic code: use uuid4() from @temporalio/workflow.',
        },
        {
          selector: "MemberExpression[object.name='DateTime'][property.name=/^(now|local)$/]",
          message: 'No clock reads in deterministic code: pass workflow time in explicitly.',
        },
        // Static imports only, so no-restricted-imports sees every module deterministic code loads.
        {
          selector: "CallExpression[callee.name='require']",
          message: 'No require() in deterministic code: use a static import (the lint checks those modules).',
        },
        {
          selector: 'ImportExpression',
          message: 'No dynamic import() in deterministic code: use a static import (the lint checks those modules).',
        },
        {
          selector: 'TSImportEqualsDeclaration[moduleReference.type="TSExternalModuleReference"]',
          message: 'No `import x = require()` in deterministic code: use a static import.',
        },
      ],
    },
  },
  {
    files: ['scripts/**/*.ts', 'test/**/*.ts', 'sandbox/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // node:test's describe/it return promises the runner itself awaits.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after'] },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  prettier,
);
