/**
 * One classification run end to end on in-memory storage: synthetic labelled JPEGs, per-epoch checkpoints, a stop
 * after the first epoch and a resume that ends bit-identical to an uninterrupted run, and the finished result as a
 * cache hit.
 */
import sharp from 'sharp';
import { ClassifyStopped, runClassificationJob, type ClassifyIo } from '../../../../activities/evaluate/classify-run';
import { packImages, type PackedImage } from '../../../../activities/evaluate/eval-data';
import { tinyConfig } from '../../engine/helpers';
import type { ClassificationJob, EvalDataRef } from '../../../../contracts/evaluate';

const cfg = tinyConfig();

/** Class c: stripes of period c + 2 with a per-image phase, so the classes are learnable. */
async function image(c: number, i: number): Promise<Uint8Array> {
  const px = Buffer.alloc(40 * 40 * 3);
  for (let y = 0; y < 40; y++)
    for (let x = 0; x < 40; x++) px.fill((x + i) % (c + 2) < 1 ? 230 : 20, (y * 40 + x) * 3, (y * 40 + x) * 3 + 3);
  return new Uint8Array(
    await sharp(px, { raw: { width: 40, height: 40, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer(),
  );
}

function memoryIo(store: Map<string, Uint8Array>, stopAfter?: number): ClassifyIo & { epochs: number } {
  const io = {
    epochs: 0,
    getBytes: async (k: string) => store.get(k),
    putBytes: async (k: string, b: Uint8Array) => void store.set(k, b),
    getJson: async <T>(k: string) =>
      store.has(k) ? (JSON.parse(Buffer.from(store.get(k) as Uint8Array).toString()) as T) : undefined,
    putJson: async (k: string, v: unknown) => void store.set(k, Buffer.from(JSON.stringify(v))),
    deleteKey: async (k: string) => void store.delete(k),
    onEpoch: () => void io.epochs++,
    stopRequested: () => stopAfter !== undefined && io.epochs >= stopAfter,
  };
  return io;
}

let base: Map<string, Uint8Array>;
let job: ClassificationJob;

beforeAll(async () => {
  const mk = async (n: number, offset: number): Promise<PackedImage[]> =>
    Promise.all(
      Array.from({ length: n }, async (_, i) => ({
        key: `img/${offset + i}`,
        label: i % 3,
        jpeg: await image(i % 3, offset + i),
      })),
    );
  base = new Map<string, Uint8Array>([
    ['data/train.pack', packImages(await mk(24, 0))],
    ['data/test.pack', packImages(await mk(9, 100))],
  ]);
  const data: EvalDataRef = {
    trainKey: 'data/train.pack',
    testKey: 'data/test.pack',
    trainImages: 24,
    testImages: 9,
    numClasses: 3,
    shortSide: 40,
    jpegQuality: 90,
    trainLabelsSha256: 'x',
    skipped: [],
  };
  job = {
    runName: 'unit',
    bucket: 'none',
    checkpoint: {
      key: 'none',
      step: 0,
      cursor: { epoch: 0, position: 0 },
      sha256: '',
      bytes: 0,
      loss: 0,
      backend: 'x',
    },
    regnet: cfg.regnet,
    swav: { ...({} as ClassificationJob['swav']), crops: cfg.swav.crops.map((c) => ({ ...c })) },
    epochs: 3,
    protocol: 'finetune',
    init: 'scratch',
    seed: 4,
    fraction: 1,
    batchSize: 8,
    data,
  };
}, 60_000);

it('stops after an epoch, resumes from its checkpoint and ends bit-identical to an uninterrupted run', async () => {
  const a = new Map(base);
  const full = await runClassificationJob(job, memoryIo(a));
  expect(full.curve).toHaveLength(3);
  expect(full.top1).toBe(Math.max(...full.curve));
  expect(full.trainImages).toBe(24);
  expect(full.testImages).toBe(9);

  const b = new Map(base);
  let stoppedAt: number | undefined;
  try {
    await runClassificationJob(job, memoryIo(b, 1));
  } catch (err) {
    expect(err).toBeInstanceOf(ClassifyStopped);
    stoppedAt = (err as ClassifyStopped).pointer?.epochsDone;
  }
  expect(stoppedAt).toBe(1);
  const resumedIo = memoryIo(b);
  const resumed = await runClassificationJob(job, resumedIo); // finds latest.json
  expect(resumedIo.epochs).toBe(2);
  expect(resumed.curve).toEqual(full.curve);
  const finalKey = (m: Map<string, Uint8Array>) => [...m.keys()].find((k) => k.endsWith('epoch-0003.state')) as string;
  expect(Buffer.from(b.get(finalKey(b)) as Uint8Array).equals(Buffer.from(a.get(finalKey(a)) as Uint8Array))).toBe(
    true,
  );
  expect([...b.keys()].filter((k) => k.endsWith('.state'))).toHaveLength(1); // older epochs pruned

  // A finished run is a cache hit: nothing trains.
  const again = memoryIo(a);
  expect(await runClassificationJob(job, again)).toEqual(full);
  expect(again.epochs).toBe(0);
}, 120_000);
