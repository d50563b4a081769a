/**
 * The training loader alone (activities/pretrain/sample-stream.ts) against a plain sequential GET of the same tar
 * parts, in the same run, alternating, each measurement in a fresh process (peak RSS is per process):
 * - read amplification: bytes read / bytes of the samples handed out, per epoch (goal <= 1.1);
 * - peak RSS with 300 parts and with 30 parts, same window and parts in flight (goal: equal within 10 %);
 * - samples/s of the loader against samples/s of the plain GET loop (goal >= 0.9x).
 * The samples are random bytes of JPEG-like sizes (the loader never decodes; decode is bench/multicrop.ts).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/loader.js [--parts 300] [--per-part 100] [--rounds 3]
 *
 * Needs the local stack (`seerflow stack up`). Writes bench/results/loader-<date>.json.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { writeTar } from '../activities/preprocess/tar';
import type { PartRef } from '../activities/pretrain/part-reader';
import { SampleStream } from '../activities/pretrain/sample-stream';
import { createS3Client, ensureBucket, getJson, putJson } from '../infra/s3';
import { loadServiceSettings, PROJECT_ROOT } from '../infra/settings';
import { mapLimited } from '../activities/shared/map-limited';
import { Rng } from '../ml/rng';

const BUCKET = 'seerflow-bench-loader';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

interface Measurement {
  mode: 'stream' | 'get';
  parts: number;
  samples: number;
  seconds: number;
  samplesPerSec: number;
  bytesRead: number;
  bytesUsed: number;
  maxRssMiB: number;
}

/** Writes the parts once (idempotent: an index object marks a complete dataset). */
async function ensureDataset(s3: S3Client, parts: number, perPart: number): Promise<PartRef[]> {
  const indexKey = `loader/${parts}x${perPart}/index-v2.json`;
  const existing = await getJson<PartRef[]>(s3, BUCKET, indexKey);
  if (existing) return existing;
  await ensureBucket(s3, BUCKET);
  const refs = await mapLimited(
    Array.from({ length: parts }, (_, p) => p),
    4,
    async (p) => {
      const rng = Rng.keyed(2026, p);
      const members = [];
      for (let m = 0; m < perPart; m++) {
        const id = `p${String(p).padStart(5, '0')}-${String(m).padStart(5, '0')}`;
        const size = 15_000 + rng.int(20_000); // canonical 256-px JPEGs are 15-35 kB
        const words = new Uint32Array(Math.ceil(size / 4)).map(() => rng.nextUint32());
        const data = new Uint8Array(words.buffer, 0, size);
        members.push(
          { name: `${id}.jpg`, data },
          { name: `${id}.json`, data: Buffer.from(`{"key":"corpus/${id}.jpg"}`) },
        );
      }
      const body = writeTar(members);
      const key = `loader/${parts}x${perPart}/part-${String(p).padStart(5, '0')}.tar`;
      const put = await s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ChecksumAlgorithm: 'CRC32',
        }),
      );
      const sha256 = createHash('sha256').update(body).digest('hex');
      return {
        key,
        count: perPart,
        sha256,
        ...(put.ChecksumCRC32 ? { crc32: put.ChecksumCRC32 } : {}),
        ...(put.ETag ? { etag: put.ETag } : {}),
      };
    },
  );
  await putJson(s3, BUCKET, indexKey, refs);
  return refs;
}

/** One measurement in this process: an epoch of the loader, or a plain sequential GET of the same parts. */
async function measure(
  mode: 'stream' | 'get',
  refs: PartRef[],
  window: number,
  inFlight: number,
): Promise<Measurement> {
  const s3 = createS3Client(loadServiceSettings().s3);
  await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: refs[0]!.key })); // connection warm-up
  const t0 = process.hrtime.bigint();
  let samples = 0;
  let bytesRead = 0;
  let bytesUsed = 0;
  if (mode === 'stream') {
    const stream = new SampleStream(
      s3,
      { bucket: BUCKET, parts: refs },
      { order: { seed: 1, world: 1, rank: 0, batchSize: 256, window }, partsInFlight: inFlight },
    );
    for await (const run of stream.epoch(0)) samples += run.length;
    bytesRead = stream.stats.bytesRead;
    bytesUsed = stream.stats.bytesUsed;
  } else {
    for (const r of refs) {
      const res = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: r.key }));
      for await (const chunk of res.Body as AsyncIterable<Uint8Array>) bytesRead += chunk.byteLength;
      samples += r.count;
    }
    bytesUsed = bytesRead;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    mode,
    parts: refs.length,
    samples,
    seconds,
    samplesPerSec: samples / seconds,
    bytesRead,
    bytesUsed,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function spawnMeasure(mode: string, parts: number, perPart: number, window: number, inFlight: number): Measurement {
  const out = execFileSync(
    process.execPath,
    [
      __filename,
      '--child',
      mode,
      '--parts',
      String(parts),
      '--per-part',
      String(perPart),
      '--window',
      String(window),
      '--in-flight',
      String(inFlight),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as Measurement;
}

async function main(): Promise<void> {
  const parts = arg('parts', 300);
  const perPart = arg('per-part', 100);
  const window = arg('window', 2048); // below the 30-part dataset's size, so both runs hold a full window
  const inFlight = arg('in-flight', 2);
  const childMode = process.argv.includes('--child') ? process.argv[process.argv.indexOf('--child') + 1] : undefined;
  const s3 = createS3Client(loadServiceSettings().s3);
  const refs = await ensureDataset(s3, parts, perPart);
  if (childMode === 'stream' || childMode === 'get') {
    process.stdout.write(`${JSON.stringify(await measure(childMode, refs, window, inFlight))}\n`);
    return;
  }
  const small = Math.max(1, Math.round(parts / 10));
  await ensureDataset(s3, small, perPart);
  const rounds = arg('rounds', 3);
  const runs: Measurement[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [mode, n] of [
      ['stream', parts],
      ['get', parts],
      ['stream', small],
    ] as const) {
      const m = spawnMeasure(mode, n, perPart, window, inFlight);
      runs.push(m);
      process.stderr.write(
        `round ${r + 1} ${mode} ${n} parts: ${m.samplesPerSec.toFixed(0)} samples/s, read/used ${(m.bytesRead / m.bytesUsed).toFixed(4)}, peak RSS ${m.maxRssMiB.toFixed(0)} MiB\n`,
      );
    }
  }
  const pick = (mode: string, n: number) => runs.filter((m) => m.mode === mode && m.parts === n);
  const ratios = Array.from({ length: rounds }, (_, r) => runs[3 * r]!.samplesPerSec / runs[3 * r + 1]!.samplesPerSec);
  const summary = {
    readAmplification: median(pick('stream', parts).map((m) => m.bytesRead / m.bytesUsed)),
    loaderVsGet: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
    peakRssMiB: {
      [`${parts} parts`]: median(pick('stream', parts).map((m) => m.maxRssMiB)),
      [`${small} parts`]: median(pick('stream', small).map((m) => m.maxRssMiB)),
    },
    loaderSamplesPerSec: median(pick('stream', parts).map((m) => m.samplesPerSec)),
    getSamplesPerSec: median(pick('get', parts).map((m) => m.samplesPerSec)),
  };
  const result = {
    bench: 'loader',
    date: new Date().toISOString(),
    host: { cpus: os.cpus().length, node: process.version, load: os.loadavg() },
    settings: { parts, perPart, window, partsInFlight: inFlight, rounds, samples: 'random bytes, 15-35 kB' },
    command: `node dist/bench/loader.js --parts ${parts} --per-part ${perPart} --rounds ${rounds}`,
    summary,
    runs,
  };
  const dir = path.join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `loader-${result.date.slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\nwrote ${file}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
