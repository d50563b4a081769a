/**
 * The tree passes the linter (typescript-eslint + the workflow determinism rules) and is formatted with prettier,
 * so `npm test` (and CI) fails on either, not only `npm run lint`.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const bin = (name: string) => path.join(ROOT, 'node_modules', '.bin', name);

async function outcome(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const r = await run(cmd, args, { cwd: ROOT, maxBuffer: 64 << 20 });
    return { code: 0, output: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test('eslint reports no problems', async () => {
  const r = await outcome(bin('eslint'), ['--max-warnings', '0', '.']);
  expect(r.output.trim()).toBe('');
  expect(r.code).toBe(0);
}, 180_000);

test('every source file is formatted with prettier', async () => {
  const r = await outcome(bin('prettier'), ['--check', '--log-level', 'warn', '.']);
  expect(r.output.trim()).toBe('');
  expect(r.code).toBe(0);
}, 180_000);
