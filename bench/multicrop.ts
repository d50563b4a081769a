/**
 * Multi-crop throughput: this project's `multicrop/index.ts` against the torchvision + Pillow reference
 * (`bench/multicrop_reference.py`), alternating step by step in one run as benchmarking.md asks.
 *
 * Workloads, one image at a time in one process each: `full` = decode + SEER multi-crop (2x224 + 4x96) +
 * normalise; `decode` = decode to 8-bit RGB only. Pin the run to one core to get per-core numbers:
 *
 *   bash bench/setup-reference.sh                      # once: bench/.venv with torch, torchvision, Pillow
 *   npx tsc -p tsconfig.json
 *   node dist/bench/make-photo-corpus.js --count 600    # once: .seerflow/bench/photo-corpus
 *   MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=536870912 \
 *     taskset -c 0 node dist/bench/multicrop.js [--images 500] [--rounds 3] [--steps 10]
 *
 * Writes bench/results/preprocess-<date>.json with wall-clock medians (min..max) per step and, because the
 * shared machines have slow phases, the same from process CPU time (all threads of each process).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import sharp from 'sharp';
import type { CropSpec } from '../ml/multicrop-params';
import { decodeImage, multicrop } from '../multicrop';

const SEER_CROPS: CropSpec[] = [
  { size: 224, count: 2, minScale: 0.14, maxScale: 1 },
  { size: 96, count: 4, minScale: 0.05, maxScale: 0.14 },
];

type Workload = 'full' | 'decode';

/** Wall-clock and process CPU seconds of one step. */
interface StepTime {
  wall: number;
  cpu: number;
}

interface Reference {
  run(workload: Workload, start: number, count: number): Promise<StepTime>;
  stats(): Promise<{ peakRssMiB: number; threads: number }>;
  info: Record<string, unknown>;
  close(): void;
}

async function startReference(python: string, corpus: string): Promise<Reference> {
  const child = spawn(python, [resolve('bench/multicrop_reference.py'), '--corpus', corpus, '--serve'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const ask = (cmd: object): Promise<Record<string, number>> =>
    new Promise((res) => {
      waiting.push((line) => res(JSON.parse(line) as Record<string, number>));
      child.stdin.write(`${JSON.stringify(cmd)}\n`);
    });
  const info = await new Promise<Record<string, unknown>>((res, rej) => {
    waiting.push((line) => res(JSON.parse(line) as Record<string, unknown>));
    child.on('exit', (code) => rej(new Error(`reference exited with ${code}`)));
  });
  return {
    info,
    run: async (workload, start, count) => {
      const r = await ask({ workload, start, count });
      return { wall: r.seconds as number, cpu: r.cpuSeconds as number };
    },
    stats: async () => (await ask({ workload: 'stats' })) as { peakRssMiB: number; threads: number },
    close: () => child.stdin.end(),
  };
}

function threads(): number {
  const m = /Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

function cpusAllowed(): string {
  const m = /Cpus_allowed_list:\s+(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? (m[1] as string) : 'unknown';
}

function summary(perStepImagesPerSec: number[]): { median: number; min: number; max: number; steps: number } {
  const s = [...perStepImagesPerSec].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { median, min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, steps: s.length };
}

async function main(): Promise<void> {
  const arg = (name: string, dflt: string): string => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : dflt;
  };
  const corpus = arg('corpus', '.seerflow/bench/photo-corpus');
  const python = arg('python', 'bench/.venv/bin/python');
  const images = Number(arg('images', '500'));
  const rounds = Number(arg('rounds', '3'));
  const steps = Number(arg('steps', '10'));
  const workloads = arg('workloads', 'full,decode').split(',') as Workload[];
  const files = readdirSync(corpus)
    .filter((f) => f.endsWith('.jpg'))
    .sort();
  if (files.length < images) throw new Error(`corpus has ${files.length} JPEGs, need ${images}`);
  const blobs = files.slice(0, images).map((f) => readFileSync(join(corpus, f)));
  const stepSize = Math.max(1, Math.floor(images / steps));
  sharp.concurrency(1);

  // CPU time is process-wide (main thread + libuv/libvips threads), like Python's process_time()
  const ours = async (workload: Workload, start: number, count: number): Promise<StepTime> => {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (let i = start; i < start + count; i++) {
      const b = blobs[i % blobs.length]!;
      if (workload === 'full') await multicrop(b, { seed: 0, epoch: 0, index: i }, { specs: SEER_CROPS });
      else await decodeImage(b);
    }
    const c = process.cpuUsage(c0);
    return { wall: Number(process.hrtime.bigint() - t0) / 1e9, cpu: (c.user + c.system) / 1e6 };
  };
  const ref = await startReference(python, corpus);
  const results: Record<string, unknown> = {};
  try {
    for (const w of workloads) {
      // warm-up: module load, JIT, first allocations
      await ours(w, 0, stepSize);
      await ref.run(w, 0, stepSize);
      const a: number[] = [];
      const b: number[] = [];
      const ratios: number[] = [];
      const aCpu: number[] = [];
      const bCpu: number[] = [];
      const ratiosCpu: number[] = [];
      for (let r = 0; r < rounds; r++) {
        for (let s = 0; s < steps; s++) {
          const start = s * stepSize;
          const ta = await ours(w, start, stepSize);
          const tb = await ref.run(w, start, stepSize);
          a.push(stepSize / ta.wall);
          b.push(stepSize / tb.wall);
          ratios.push(tb.wall / ta.wall);
          aCpu.push(stepSize / ta.cpu);
          bCpu.push(stepSize / tb.cpu);
          ratiosCpu.push(tb.cpu / ta.cpu);
        }
        console.log(
          `${w} round ${r + 1}/${rounds}: ours ${summary(a).median.toFixed(1)} img/s (cpu ${summary(aCpu).median.toFixed(1)}), ` +
            `reference ${summary(b).median.toFixed(1)} img/s (cpu ${summary(bCpu).median.toFixed(1)})`,
        );
      }
      results[w] = {
        oursImagesPerSec: summary(a),
        referenceImagesPerSec: summary(b),
        ratioPerStep: summary(ratios),
        cpuTime: {
          oursImagesPerCpuSec: summary(aCpu),
          referenceImagesPerCpuSec: summary(bCpu),
          ratioPerStep: summary(ratiosCpu),
        },
      };
    }
    const refStats = await ref.stats();
    const out = {
      date: new Date().toISOString(),
      command: process.argv.join(' '),
      host: { cpusAllowed: cpusAllowed(), node: process.version, sharp: sharp.versions },
      malloc: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MALLOC_'))),
      corpus: { dir: corpus, images, stepSize, rounds, steps },
      reference: { ...ref.info, peakRssMiB: refStats.peakRssMiB, threads: refStats.threads },
      ours: {
        peakRssMiB: process.resourceUsage().maxRSS / 1024,
        threads: threads(),
        sharpConcurrency: sharp.concurrency(),
      },
      results,
    };
    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/preprocess-${out.date.slice(0, 10)}.json`;
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(JSON.stringify(results, null, 2));
    console.log(`wrote ${file}`);
  } finally {
    ref.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
