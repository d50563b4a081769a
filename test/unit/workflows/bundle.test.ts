/**
 * Workflow code must bundle for Temporal's sandbox and obey the determinism lint rules; both are checked without
 * a server. A Node built-in or an activity value import in workflows/ fails here, not in production.
 */
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { spawnSync } from 'node:child_process';
import { SCHEDULE_WORKFLOW_TYPE } from '../../../contracts/schedule';
import * as workflows from '../../../workflows';

const ROOT = path.resolve(__dirname, '../../..');

it('bundles workflows/ for the Temporal sandbox', async () => {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../../workflows'),
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    },
  });
  expect(code).toContain('seerPipelineWorkflow');
  expect(code).toContain('ingestPartitionWorkflow');
  expect(code).not.toMatch(/require\(["']@aws-sdk/);
}, 120_000);

/** ESLint loads its ESM config with a dynamic import, which jest's VM does not allow: run the CLI instead. */
function lint(
  args: string[],
  stdin?: string,
): { filePath: string; messages: { line: number; ruleId: string; message: string }[] }[] {
  const bin = path.join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');
  const r = spawnSync(process.execPath, [bin, '--format', 'json', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    input: stdin,
  });
  if (!r.stdout) throw new Error(`eslint produced no report: ${r.stderr}`);
  return JSON.parse(r.stdout) as ReturnType<typeof lint>;
}

it('workflow and contract files pass the determinism lint rules', () => {
  const problems = lint(['workflows', 'contracts']).flatMap((r) =>
    r.messages.map((m) => `${path.relative(ROOT, r.filePath)}:${m.line} ${m.ruleId}: ${m.message}`),
  );
  expect(problems).toEqual([]);
}, 120_000);

it('the lint rules do catch a Node built-in imported by a workflow', () => {
  const [result] = lint(
    ['--stdin', '--stdin-filename', 'workflows/bad-example.ts'],
    "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n",
  );
  expect(result?.messages.map((m) => m.ruleId)).toContain('@typescript-eslint/no-restricted-imports');
}, 120_000);

it('the lint rules keep workflows to contracts: no type import from below activities/', () => {
  const [result] = lint(
    ['--stdin', '--stdin-filename', 'workflows/bad-example.ts'],
    "import type { LabelLine } from '../activities/evaluate/eval-data';\nexport type X = LabelLine;\n",
  );
  expect(result?.messages.map((m) => m.message).join('\n')).toMatch(/live in contracts/);
}, 120_000);

it('each workflow function is named as the type it registers: clients start workflows by reference', () => {
  for (const [name, fn] of Object.entries(workflows)) expect(fn.name).toBe(name);
  expect(workflows.scheduledPipelineWorkflow.name).toBe(SCHEDULE_WORKFLOW_TYPE);
});
