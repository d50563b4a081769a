/**
 * The PyTorch engine's golden fixtures (test/fixtures/torch, read by torch-engine/tests) are what the TypeScript side
 * computes now: a change to ml/regnet.ts, the CLI's plan, the tfjs tensor names or the tfjs step fails here until
 * they are regenerated (`npx tsc -p tsconfig.json && node dist/test/torch-engine/fixtures.js`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../../engine/backend';
import { readStateHeader } from '../../../engine/state';
import { allFixtures } from '../../torch-engine/fixtures';

const dir = join(__dirname, '..', '..', 'fixtures', 'torch');

beforeAll(() => {
  initBackend();
});

describe('test/fixtures/torch is up to date', () => {
  const fresh = allFixtures();

  it.each(['regnet-plans.json', 'tensor-lists.json', 'step-micro-before.bin', 'step-micro-batches.bin'])(
    '%s is exactly what the generator writes',
    (name) => {
      const data = fresh[name]!;
      const stored = readFileSync(join(dir, name));
      expect(typeof data === 'string' ? stored.toString('utf8') === data : stored.equals(Buffer.from(data))).toBe(true);
    },
  );

  // Not bit-exact: the same build gave 9e-6 between a node and a jest process (oneDNN kernel choice); a stale
  // fixture (changed semantics) moves far more. The PyTorch parity bound is 1e-4.
  it('the micro steps give the stored losses and states (to float32 rounding)', () => {
    const stored = JSON.parse(readFileSync(join(dir, 'step-micro.json'), 'utf8')) as { steps: { loss: number }[] };
    const now = JSON.parse(fresh['step-micro.json'] as string) as typeof stored;
    expect(now.steps.length).toBe(stored.steps.length);
    now.steps.forEach((s, i) => expect(Math.abs(s.loss - stored.steps[i]!.loss)).toBeLessThan(1e-5 * s.loss));
    for (const name of ['step-micro-after1.bin', 'step-micro-after.bin']) {
      const a = readStateHeader(fresh[name] as Uint8Array);
      const b = readStateHeader(readFileSync(join(dir, name)));
      expect(a.header.tensors).toEqual(b.header.tensors);
      let worst = 0;
      a.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - (b.data[i] as number)))));
      expect(worst).toBeLessThan(5e-5);
    }
  });
});
