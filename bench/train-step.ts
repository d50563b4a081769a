/**
 * Time of one SwAV training step of the tfjs engine on the named workloads of benchmarking.md (W-tiny, W-200MF,
 * W-200MF-96): forward all crops, Sinkhorn on the 2 large crops, loss, backward, LARS step. Each workload runs in
 * its own child process (fresh peak RSS); inside it: warm-up steps, then the median of >= 10 timed steps, with
 * wall and process CPU time per step, the LARS share, images/s (= batch / median step), peak RSS and threads.
 *
 *   npx tsc -p tsconfig.json
 *   MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=536870912 \
 *     node dist/bench/train-step.js [--workloads W-tiny,W-200MF,W-200MF-96] [--warmup 3] [--steps 11] [--rounds 1]
 *
 * Writes bench/results/train-step-<date>.json. Synthetic N(0,1) pixels (data loading is not timed).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { initBackend } from '../engine/backend';
import { createSwavTrainer, type SwavEngineConfig } from '../engine/index';
import { cropGroups, type SwavBatch } from '../engine/swav-step';
import { regnetComplexity } from '../ml/complexity';
import { regnetSpec } from '../ml/regnet';
import { Rng } from '../ml/rng';

interface Workload {
  name: string;
  cfg: SwavEngineConfig;
  batch: number;
}

function workload(name: string, trunk: 'tiny' | '200mf', big: number, small: number, batch: number, K: number): Workload {
  const regnet =
    trunk === 'tiny'
      ? { depth: 4, w0: 16, wa: 8, wm: 2.0, groupWidth: 8 }
      : { depth: 13, w0: 24, wa: 36.44, wm: 2.49, groupWidth: 8 };
  return {
    name,
    batch,
    cfg: {
      // Stem width 32 (the RegNet default) for every workload; benchmarking.md leaves W-tiny's stem unstated.
      regnet: { ...regnet, bottleneckMultiplier: 1, seRatio: 0.25, rounding: 'pycls', stemWidth: 32 },
      swav: {
        hiddenDims: [512],
        headBatchNorm: true,
        featureDim: 128,
        prototypes: K,
        temperature: 0.1,
        epsilon: 0.05,
        sinkhornIterations: 3,
        crops: [
          { size: big, count: 2, minScale: 0.14, maxScale: 1 },
          { size: small, count: 4, minScale: 0.05, maxScale: 0.14 },
        ],
        cropsForAssign: [0, 1],
        freezePrototypesIters: 0,
        queueLength: 0,
        epochQueueStarts: 0,
      },
      optim: { momentum: 0.9, weightDecay: 1e-6, larsTrustCoefficient: 0.001 },
    },
  };
}

const WORKLOADS: Record<string, Workload> = {
  'W-tiny': workload('W-tiny', 'tiny', 32, 16, 32, 64),
  'W-200MF': workload('W-200MF', '200mf', 64, 32, 32, 300),
  'W-200MF-96': workload('W-200MF-96', '200mf', 96, 48, 16, 300),
};

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : dflt;
}

function procStatus(): { peakRssMiB: number; threads: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? NaN);
  return { peakRssMiB: Math.round(kb / 102.4) / 10, threads: Number(/Threads:\s+(\d+)/.exec(s)?.[1] ?? NaN) };
}

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 10) / 10;
  return { median: r(s[s.length >> 1] as number), min: r(s[0] as number), max: r(s[s.length - 1] as number) };
}

function syntheticBatch(w: Workload, seed: number): SwavBatch {
  const rng = Rng.keyed(seed);
  const crops = cropGroups(w.cfg.swav.crops).map((g) => {
    const a = new Float32Array(g.count * w.batch * g.size * g.size * 3);
    for (let i = 0; i < a.length; i++) a[i] = rng.normal();
    return a;
  });
  return { crops, batch: w.batch };
}

/** Child: time one workload, print one JSON line. */
function runChild(name: string, warmup: number, steps: number): void {
  const w = WORKLOADS[name];
  if (!w) throw new Error(`unknown workload ${name}`);
  const info = initBackend();
  const trainer = createSwavTrainer(w.cfg);
  trainer.model.init(0);
  // Time the optimizer inside the step by wrapping it on this instance.
  let larsMs = 0;
  const opt = trainer.optimizer;
  const larsStep = opt.step.bind(opt);
  opt.step = (g, lr) => {
    const t = process.hrtime.bigint();
    larsStep(g, lr);
    larsMs = Number(process.hrtime.bigint() - t) / 1e6;
  };
  const batches = [syntheticBatch(w, 1), syntheticBatch(w, 2)];
  const wall: number[] = [];
  const cpu: number[] = [];
  const lars: number[] = [];
  let loss = NaN;
  for (let i = 0; i < warmup + steps; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    loss = trainer.step(batches[i % 2] as SwavBatch, 0.3).loss;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const c = process.cpuUsage(c0);
    if (i >= warmup) {
      wall.push(ms);
      cpu.push((c.user + c.system) / 1000);
      lars.push(larsMs);
    }
  }
  const spec = regnetSpec(w.cfg.regnet);
  const med = stats(wall).median;
  process.stdout.write(
    `${JSON.stringify({
      workload: name,
      backend: info,
      batch: w.batch,
      crops: w.cfg.swav.crops.map((c) => `${c.count}x${c.size}`).join('+'),
      prototypes: w.cfg.swav.prototypes,
      head: `${spec.outWidth}->${w.cfg.swav.hiddenDims.join('->')}->${w.cfg.swav.featureDim} (BN+ReLU)`,
      trunk: {
        stages: spec.stages.map((s) => [s.depth, s.width]),
        stemWidth: spec.stemWidth,
        params: regnetComplexity(spec).params,
      },
      trainableParams: trainer.model.trainableParamCount(),
      warmup,
      steps,
      stepMs: stats(wall),
      cpuMs: stats(cpu),
      larsMs: stats(lars),
      imagesPerSecond: Math.round((w.batch / med) * 1000 * 10) / 10,
      finalLoss: loss,
      ...procStatus(),
    })}\n`
  );
}

function main(): void {
  const child = arg('child', '');
  const warmup = Number(arg('warmup', '3'));
  const steps = Number(arg('steps', '11'));
  if (child) return runChild(child, warmup, steps);
  const names = arg('workloads', Object.keys(WORKLOADS).join(',')).split(',');
  const rounds = Number(arg('rounds', '1'));
  const results: unknown[] = [];
  const load: number[][] = [];
  for (let r = 0; r < rounds; r++) {
    for (const name of names) {
      load.push(os.loadavg());
      const out = execFileSync(process.execPath, [__filename, '--child', name, '--warmup', `${warmup}`, '--steps', `${steps}`], {
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 1 << 24,
      });
      const res = JSON.parse(out.toString().trim().split('\n').pop() as string) as Record<string, unknown>;
      results.push({ round: r + 1, ...res });
      const s = res.stepMs as { median: number; min: number; max: number };
      console.log(`${name} round ${r + 1}: ${s.median} ms/step (${s.min}..${s.max}), ${String(res.imagesPerSecond)} img/s`);
    }
  }
  load.push(os.loadavg());
  const date = new Date().toISOString();
  const out = {
    date,
    command: process.argv.join(' '),
    host: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}` },
    env: Object.fromEntries(
      ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_', 'TF_NUM_INTRAOP_THREADS', 'SEERFLOW_BACKEND'].map((k) => [
        k,
        process.env[k] ?? null,
      ])
    ),
    loadavg1m: load.map((l) => Math.round((l[0] as number) * 100) / 100),
    note: 'shared 2-core host: see loadavg1m; compare against a reference only within one run',
    results,
  };
  const file = `bench/results/train-step-${date.slice(0, 10)}.json`;
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

main();
