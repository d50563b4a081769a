/**
 * The training kit's checkpoint store on the real local S3 (SeaweedFS): commit, prune and history; a checksummed
 * latest.json; recovery from the state objects when latest.json is truncated or tampered with (no SyntaxError, no
 * retry); a corrupt newest state falls back to the previous one; two attempts' objects never collide; a run name
 * reused with another fingerprint is refused.
 */
import { createHash } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ErrorType, SeerflowError } from '../../contracts/errors';
import { readStateContainer, writeStateContainer } from '../../engine/state-container';
import {
  checkpointLayout,
  CheckpointStore,
  type CheckpointStamp,
} from '../../activities/training-kit/checkpoint-store';
import { s3ObjectStorage } from '../../activities/training-kit/object-storage';
import { getBytes, getText } from '../../infra/s3';
import { connectStack, dropBucket, freshBucket, listAll, type Stack } from './harness';

interface TestPointer {
  key: string;
  step: number;
  sha256: string;
  bytes: number;
  loss: number;
  seconds: number;
}

let stack: Stack;
let bucket: string;
const logs: string[] = [];

function store(prefix: string, fingerprint = 'fp-1') {
  return new CheckpointStore<TestPointer>({
    storage: s3ObjectStorage(stack.s3, bucket),
    layout: checkpointLayout(prefix, 'step', 8),
    keep: 2,
    fingerprint,
    progress: (p) => p.step,
    owner: `run "${prefix}"`,
    volatile: { seconds: 0 },
    log: (line) => logs.push(line),
  });
}

/** A tiny detector-kind state whose one tensor holds `step` and `attempt`, stamped as the store asks. */
function stateOf(step: number, attempt: number) {
  return (stamp: CheckpointStamp<TestPointer>) =>
    writeStateContainer({
      kind: 'detector',
      step,
      tensors: [{ name: 'w', shape: [2], read: () => Float32Array.of(step, attempt) }],
      meta: { checkpoint: stamp },
    });
}

async function commit(s: CheckpointStore<TestPointer>, step: number, attempt = 1) {
  return s.commit({ step, loss: 1 / step, seconds: step * 1.5 }, attempt, stateOf(step, attempt));
}

async function put(key: string, body: Uint8Array | string) {
  await stack.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** What the state `apply` loaded: the tensor's (step, attempt). */
function loaded() {
  const seen: number[][] = [];
  return { seen, apply: (bytes: Uint8Array) => void seen.push(Array.from(readStateContainer(bytes).data)) };
}

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'ckpt-store');
});

afterAll(async () => {
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

beforeEach(() => {
  logs.length = 0;
});

it('commits state then latest.json, keeps the newest two, prunes the rest, and checksums latest.json', async () => {
  const s = store('a/');
  const p4 = await commit(s, 4);
  const p8 = await commit(s, 8);
  const p12 = await commit(s, 12);
  expect(p12).toEqual({
    step: 12,
    loss: 1 / 12,
    seconds: 18,
    key: 'a/step-00000012-a1.state',
    sha256: createHash('sha256')
      .update((await getBytes(stack.s3, bucket, 'a/step-00000012-a1.state')) as Uint8Array)
      .digest('hex'),
    bytes: p12.bytes,
  });
  expect(await s.history()).toEqual([p12, p8]);
  expect((await listAll(stack.s3, bucket, 'a/')).map((o) => o.key).sort()).toEqual([
    'a/latest.json',
    'a/step-00000008-a1.state',
    'a/step-00000012-a1.state',
  ]);
  expect(p4.key).toBe('a/step-00000004-a1.state'); // pruned above
  // The checksum, as a Python reader checks it: the file's bytes with its own 64 digits zeroed.
  const text = (await getText(stack.s3, bucket, 'a/latest.json')) as string;
  const file = JSON.parse(text) as { sha256: string; format: string; fingerprint: string };
  expect(file).toMatchObject({ format: 'seerflow-checkpoints', version: 1, fingerprint: 'fp-1' });
  expect(
    createHash('sha256')
      .update(text.replace(file.sha256, '0'.repeat(64)))
      .digest('hex'),
  ).toBe(file.sha256);
  const { seen, apply } = loaded();
  const got = await s.loadNewest(apply);
  expect(got).toEqual({ pointer: p12, skipped: [], candidates: 2, recovered: false });
  expect(seen).toEqual([[12, 1]]);
});

it('recovers from a truncated latest.json: the newest state that verifies, without a SyntaxError', async () => {
  const s = store('b/');
  await commit(s, 4);
  const p8 = await commit(s, 8);
  const text = (await getText(stack.s3, bucket, 'b/latest.json')) as string;
  await put('b/latest.json', text.slice(0, text.length / 2));

  const fresh = store('b/'); // a new attempt: nothing cached
  expect(await fresh.history()).toEqual([{ ...p8, seconds: 0 }]); // timings are not recorded in the state
  const { seen, apply } = loaded();
  const got = await store('b/').loadNewest(apply, { required: true });
  expect(got.pointer).toEqual({ ...p8, seconds: 0 });
  expect(got.recovered).toBe(true);
  expect(seen).toEqual([[8, 1]]);
  expect(logs.some((l) => l.includes('b/latest.json is unreadable (not valid JSON'))).toBe(true);

  // The next commit writes a readable latest.json again, with the recovered checkpoint as its predecessor.
  const p12 = await commit(fresh, 12, 2);
  expect(await store('b/').history()).toEqual([p12, { ...p8, seconds: 0 }]);
});

it('a tampered latest.json (valid JSON, wrong checksum) is not trusted either', async () => {
  const s = store('c/');
  await commit(s, 4);
  await commit(s, 8);
  const text = (await getText(stack.s3, bucket, 'c/latest.json')) as string;
  const file = JSON.parse(text) as { history: TestPointer[] };
  // Point latest.json at the older state only; the checksum no longer matches.
  await put('c/latest.json', text.replace(/"step": 8/g, '"step": 4'));
  expect(file.history).toHaveLength(2);
  const got = await store('c/').loadNewest(() => undefined);
  expect(got.recovered).toBe(true);
  expect(got.pointer?.step).toBe(8);
  expect(logs.some((l) => l.includes('checksum mismatch'))).toBe(true);
});

it('a corrupt newest state falls back to the previous one, through latest.json or through the listing', async () => {
  const s = store('d/');
  const p4 = await commit(s, 4);
  const p8 = await commit(s, 8);
  await put(p8.key, 'not a checkpoint any more');
  const viaLatest = loaded();
  const a = await store('d/').loadNewest(viaLatest.apply);
  expect(a.pointer).toEqual(p4);
  expect(a.skipped).toEqual([{ key: p8.key, reason: 'checksum mismatch (corrupt object)' }]);
  expect(viaLatest.seen).toEqual([[4, 1]]);

  await put('d/latest.json', '{"sha256": "');
  const viaListing = loaded();
  const b = await store('d/').loadNewest(viaListing.apply);
  expect(b.pointer).toEqual({ ...p4, seconds: 0 });
  expect(b.skipped).toEqual([{ key: p8.key, reason: 'not a seerflow state (bad magic)' }]);
  expect(viaListing.seen).toEqual([[4, 1]]);
  expect(logs.some((l) => l.startsWith(`fell back past ${p8.key}`))).toBe(true);

  // Nothing usable at all: `required` makes that an IncompatibleCheckpoint, else the caller starts over.
  await put(p4.key, 'gone too');
  const none = await store('d/').loadNewest(() => undefined);
  expect(none).toMatchObject({ candidates: 2, recovered: false });
  expect(none.pointer).toBeUndefined();
  const err = await store('d/')
    .loadNewest(() => undefined, { required: true })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SeerflowError);
  expect((err as SeerflowError).type).toBe(ErrorType.IncompatibleCheckpoint);
});

it('two attempts never write the same object, and a foreign fingerprint is refused', async () => {
  const first = store('e/');
  const zombie = store('e/');
  const p4 = await commit(first, 4, 1);
  const mine = await commit(first, 8, 2);
  const late = await commit(zombie, 8, 1); // an attempt that should be dead commits the same step
  expect(mine.key).toBe('e/step-00000008-a2.state');
  expect(late.key).toBe('e/step-00000008-a1.state');
  const objects = (await listAll(stack.s3, bucket, 'e/')).map((o) => o.key);
  expect(objects).toEqual(expect.arrayContaining([mine.key, late.key]));
  // Each object is its own attempt's, intact.
  expect(Array.from(readStateContainer((await getBytes(stack.s3, bucket, mine.key)) as Uint8Array).data)).toEqual([
    8, 2,
  ]);
  expect(Array.from(readStateContainer((await getBytes(stack.s3, bucket, late.key)) as Uint8Array).data)).toEqual([
    8, 1,
  ]);
  // Whichever latest.json names is a complete state; the previous checkpoint is still kept.
  expect((await first.history()).map((p) => p.key)).toEqual([late.key, p4.key]);

  const other = store('e/', 'fp-2');
  const refused = await other.history().catch((e: unknown) => e);
  expect((refused as SeerflowError).type).toBe(ErrorType.IncompatibleCheckpoint);
  expect((refused as Error).message).toMatch(/another dataset or config \(fingerprint fp-1, now fp-2\)/);
  await put('e/latest.json', 'truncat');
  const viaStamp = await store('e/', 'fp-2')
    .loadNewest(() => undefined)
    .catch((e: unknown) => e);
  expect((viaStamp as SeerflowError).type).toBe(ErrorType.IncompatibleCheckpoint);
});
