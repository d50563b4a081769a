// Flat config: TypeScript recommended rules everywhere, plus determinism rules for workflow code, which
// Temporal replays and therefore must not do I/O, read clocks of its own, or import activity implementations.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)].filter(
  (m) => !['assert', 'url', 'util'].includes(m),
);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.seerflow/**', 'bench/.venv/**', 'coverage/**', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off', // lazy requires of optional native modules are deliberate
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['workflows/**/*.ts', 'contracts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({
              name,
              message: 'workflow code is replayed: no Node built-ins (do I/O in an activity)',
            })),
            {
              name: '../activities',
              allowTypeImports: true,
              message: 'workflows may only `import type` the queue types of activities/index',
            },
          ],
          patterns: [
            {
              group: ['**/activities/**'],
              message: 'job, result and progress types live in contracts/: import them from there',
            },
            {
              group: ['**/infra/**', '**/engine/**', '**/multicrop/**', '**/datasets/**', '**/config/load'],
              message: 'side-effecting modules are not allowed in workflows',
            },
            {
              group: ['@temporalio/activity', '@temporalio/worker', '@temporalio/client', '@temporalio/testing'],
              message: 'not available inside the workflow sandbox',
            },
            {
              group: ['sharp', '@tensorflow/*', '@aws-sdk/*', 'pino'],
              message: 'native or I/O modules belong in activities',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'setInterval', message: 'use sleep() from @temporalio/workflow' }],
    },
  },
  {
    files: ['ml/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'ml/ is pure: inject an Rng (ml/rng.ts)' },
        { object: 'Date', property: 'now', message: 'ml/ is pure: inject a clock' },
      ],
    },
  },
);
