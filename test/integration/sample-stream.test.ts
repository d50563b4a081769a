/**
 * The training read path against the real local S3: samples come in the order ml/data-order.ts defines, each
 * part is read once per epoch, a resumed stream continues exactly, and damaged or missing parts fail loudly.
 */
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { writeTar } from '../../activities/preprocess/tar';
import { PartCorruptError, type PartRef } from '../../activities/pretrain/part-reader';
import { SampleStream } from '../../activities/pretrain/sample-stream';
import { connectStack, dropBucket, freshBucket, type Stack } from './harness';

let stack: Stack;
let bucket: string;
const counts = [6, 9, 0, 7, 8, 5];
let parts: PartRef[];
const sampleBytes = (index: number) => Buffer.from(`image-${index}-`.repeat(1 + (index % 5)), 'utf8');

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'stream');
  parts = [];
  let index = 0;
  for (const [p, count] of counts.entries()) {
    const members = [];
    for (let m = 0; m < count; m++, index++) {
      const id = `p${p}-${String(m).padStart(4, '0')}`;
      members.push({ name: `${id}.jpg`, data: sampleBytes(index) });
      members.push({ name: `${id}.json`, data: Buffer.from(JSON.stringify({ key: `corpus/${index}.png` })) });
    }
    const body = writeTar(members);
    const key = `data/part-${p}.tar`;
    await stack.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    parts.push({ key, count, sha256: createHash('sha256').update(body).digest('hex') });
  }
});

afterAll(async () => {
  await dropBucket(stack.s3, bucket);
  await stack.connection.close();
});

const order = { seed: 5, world: 1, rank: 0, batchSize: 4, window: 10 };

async function collect(stream: SampleStream, epoch: number, from = 0) {
  const out = [];
  for await (const run of stream.epoch(epoch, from)) out.push(...run);
  return out;
}

test('an epoch streams the defined order, the right bytes and source keys, reading each part once', async () => {
  const stream = new SampleStream(stack.s3, { bucket, parts }, { order, partsInFlight: 2 });
  const got = await collect(stream, 1);
  const plan = stream.order(1);
  expect(got.map((s) => s.position)).toEqual(Array.from({ length: plan.plan.usable }, (_, p) => p));
  expect(got.map((s) => s.index)).toEqual(got.map((s) => plan.indexAt(s.position)));
  for (const s of got) {
    expect(Buffer.from(s.bytes)).toEqual(sampleBytes(s.index));
    expect(s.sourceKey).toBe(`corpus/${s.index}.png`);
  }
  expect(stream.stats.partsRead).toBe(plan.reads().length);
  expect(stream.stats.readAttempts).toBe(stream.stats.partsRead);
});

test('a stream resumed at a position continues with exactly the samples an uninterrupted one visits', async () => {
  const full = await collect(new SampleStream(stack.s3, { bucket, parts }, { order }), 2);
  for (const from of [0, 3, 10, 17, full.length - 1]) {
    const resumed = await collect(new SampleStream(stack.s3, { bucket, parts }, { order }), 2, from);
    expect(resumed.map((s) => s.index)).toEqual(full.slice(from).map((s) => s.index));
  }
});

test('two ranks read disjoint samples', async () => {
  const seen = new Set<number>();
  for (const rank of [0, 1]) {
    const got = await collect(
      new SampleStream(stack.s3, { bucket, parts }, { order: { ...order, world: 2, rank } }),
      0,
    );
    for (const s of got) {
      expect(seen.has(s.index)).toBe(false);
      seen.add(s.index);
    }
  }
  expect(seen.size).toBe(2 * Math.floor(Math.floor(35 / 2) / 4) * 4);
});

test('a part whose bytes do not match the index fails with a typed error, not a short epoch', async () => {
  const bad = parts.map((p, i) => (i === 3 ? { ...p, sha256: '0'.repeat(64) } : p));
  const stream = new SampleStream(stack.s3, { bucket, parts: bad }, { order, sleep: async () => undefined });
  await expect(collect(stream, 0)).rejects.toBeInstanceOf(PartCorruptError);
});

test('a missing part is retried with backoff, then fails the read with its key', async () => {
  const key = 'data/part-missing.tar';
  const missing = parts.map((p, i) => (i === 1 ? { ...p, key } : p));
  await stack.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
  const waits: number[] = [];
  const stream = new SampleStream(
    stack.s3,
    { bucket, parts: missing },
    { order, retry: { attempts: 3, backoffMs: 100, maxBackoffMs: 150 }, sleep: async (ms) => waits.push(ms) },
  );
  await expect(collect(stream, 0)).rejects.toThrow(/part-missing\.tar unreadable after 3 attempts/);
  expect(waits).toEqual([100, 150]);
});
