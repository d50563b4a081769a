/**
 * One SwAV training step of the tfjs engine against plain PyTorch (bench/train_step_reference.py), in the same
 * run, alternating, on the named workloads of the benchmarking method (W-tiny, W-200MF, W-200MF-96): forward all
 * crops, Sinkhorn on the 2 large crops, loss, backward, LARS step. Each measurement is its own child process
 * (fresh peak RSS): warm-up steps, then the median of >= 10 timed steps, with wall and process CPU time per
 * step, images/s (= batch / median step), peak RSS and threads; the tfjs side also times its LARS update.
 * Every (workload, threads) pair runs tfjs then PyTorch in odd rounds and PyTorch then tfjs in even ones.
 * Standalone Sinkhorn (B=4096, K=3000, 3 iterations): the engine's tfjs path, the dependency-free `ml/` path and
 * SwAV's `distributed_sinkhorn` in PyTorch, alternating the same way.
 *
 *   bash bench/setup-reference.sh      # once: bench/.venv with torch + torchvision from PyPI
 *   npx tsc -p tsconfig.json
 *   node dist/bench/train-step.js [--workloads W-tiny,W-200MF,W-200MF-96] [--threads 1,2] [--warmup 3] [--steps 11]
 *     [--rounds 3] [--sinkhorn-rounds 3] [--no-reference] [--python bench/.venv/bin/python] [--out FILE]
 *
 * Both sides run with the allocator settings of the benchmarking method (MALLOC_MMAP_THRESHOLD_,
 * MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_) and PyTorch with OMP_WAIT_POLICY=PASSIVE (see main), unless already
 * set in the environment; the values used are recorded. Writes bench/results/train-step-<date>.json. Synthetic
 * N(0,1) pixels (data loading is not timed).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../engine/backend';
import { createSwavTrainer } from '../engine/index';
import { sinkhornTf, type SwavBatch } from '../engine/swav-step';
import { regnetComplexity } from '../ml/complexity';
import { regnetSpec } from '../ml/regnet';
import { Rng } from '../ml/rng';
import { sinkhornKnopp } from '../ml/sinkhorn';
import { syntheticBatch, WORKLOADS } from './workloads';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : dflt;
}

function procStatus(): { peakRssMiB: number; osThreads: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? NaN);
  return { peakRssMiB: Math.round(kb / 102.4) / 10, osThreads: Number(/Threads:\s+(\d+)/.exec(s)?.[1] ?? NaN) };
}

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 10) / 10;
  return { median: r(s[s.length >> 1] as number), min: r(s[0] as number), max: r(s[s.length - 1] as number) };
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
    })}\n`,
  );
}

/** Child: time the engine's tfjs Sinkhorn and the `ml/` one on the same cosine-like scores, print one JSON line. */
function runSinkhornChild(warmup: number, steps: number, B: number, K: number): void {
  const info = initBackend();
  const rng = Rng.keyed(1);
  const scores = new Float32Array(B * K);
  for (let i = 0; i < scores.length; i++) scores[i] = rng.uniform(-1, 1);
  const st = tf.tensor2d(scores, [B, K]);
  const time = (fn: () => Float32Array | tf.Tensor) => {
    const wall: number[] = [];
    const cpu: number[] = [];
    let rowErr = 0;
    for (let i = 0; i < warmup + steps; i++) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const out = fn();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const c = process.cpuUsage(c0);
      const q = out instanceof tf.Tensor ? (out.dataSync() as Float32Array) : out;
      if (out instanceof tf.Tensor) out.dispose();
      if (i >= warmup) {
        wall.push(ms);
        cpu.push((c.user + c.system) / 1000);
      }
      rowErr = 0;
      for (let n = 0; n < B; n++) {
        let r = 0;
        for (let k = 0; k < K; k++) r += q[n * K + k] as number;
        rowErr = Math.max(rowErr, Math.abs(r - 1));
      }
    }
    return { stepMs: stats(wall), cpuMs: stats(cpu), rowSumMaxError: rowErr };
  };
  // tfjs-node executes each op eagerly and synchronously, so the returned tensor is complete when timed; the
  // trainer keeps the codes as a tensor too. Checking them (outside the timing) reads them back.
  const tfjsPath = time(() => sinkhornTf(st, 0.05, 3));
  const mlPath = time(() => sinkhornKnopp(scores, B, K, { epsilon: 0.05, iterations: 3 }));
  process.stdout.write(
    `${JSON.stringify({ workload: `sinkhorn-B${B}-K${K}-it3`, backend: info, tfjs: tfjsPath, ml: mlPath, warmup, steps, ...procStatus() })}\n`,
  );
}

const ALLOCATOR = {
  MALLOC_MMAP_THRESHOLD_: '33554432',
  MALLOC_TRIM_THRESHOLD_: '17179869184',
  MALLOC_TOP_PAD_: '536870912',
};

interface Timed {
  stepMs: { median: number; min: number; max: number };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[s.length >> 1] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
}

function main(): void {
  const warmup = Number(arg('warmup', '3'));
  const steps = Number(arg('steps', '11'));
  const child = arg('child', '');
  if (child === 'sinkhorn') return runSinkhornChild(warmup, steps, Number(arg('B', '4096')), Number(arg('K', '3000')));
  if (child) return runChild(child, warmup, steps);
  const names = arg('workloads', Object.keys(WORKLOADS).join(',')).split(',').filter(Boolean);
  for (const n of names)
    if (!WORKLOADS[n]) throw new Error(`unknown workload ${n}; known: ${Object.keys(WORKLOADS).join(', ')}`);
  const threads = arg('threads', '1,2').split(',').map(Number);
  const rounds = Number(arg('rounds', '3'));
  const sinkhornRounds = Number(arg('sinkhorn-rounds', '3'));
  const withReference = !process.argv.includes('--no-reference');
  const python = arg('python', 'bench/.venv/bin/python');
  const refScript = 'bench/train_step_reference.py';
  if (withReference && !existsSync(python)) {
    throw new Error(
      `no PyTorch reference at ${python}: run \`bash bench/setup-reference.sh\` first, or pass --no-reference`,
    );
  }
  const env: NodeJS.ProcessEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' };
  for (const [k, v] of Object.entries(ALLOCATOR)) env[k] ??= v;
  // libgomp's default spin-wait makes a 2-thread PyTorch step 5-50x slower as soon as anything else uses a core of
  // this shared 2-core host (measured 1163 vs 220 ms/step on W-tiny); passive waiting is the fair setting here.
  env.OMP_WAIT_POLICY ??= 'PASSIVE';

  const load: number[] = [];
  const exec = (file: string, args: string[], extraEnv: NodeJS.ProcessEnv): Record<string, unknown> => {
    load.push(Math.round((os.loadavg()[0] as number) * 100) / 100);
    const out = execFileSync(file, args, {
      env: { ...env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 24,
    });
    return JSON.parse(out.toString().trim().split('\n').pop() as string) as Record<string, unknown>;
  };
  const tfjsRun = (workload: string, t: number) =>
    exec(process.execPath, [__filename, '--child', workload, '--warmup', `${warmup}`, '--steps', `${steps}`], {
      TF_NUM_INTRAOP_THREADS: `${t}`,
    });
  const torchRun = (workload: string, t: number) =>
    exec(
      python,
      [refScript, '--workload', workload, '--threads', `${t}`, '--warmup', `${warmup}`, '--steps', `${steps}`],
      {},
    );

  const results: Record<string, unknown>[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const name of names) {
      for (const t of threads) {
        const order = withReference ? (r % 2 === 0 ? ['tfjs', 'pytorch'] : ['pytorch', 'tfjs']) : ['tfjs'];
        for (const impl of order) {
          const res = impl === 'tfjs' ? { implementation: 'tfjs', ...tfjsRun(name, t) } : torchRun(name, t);
          results.push({ ...res, round: r + 1, threads: t });
          const s = (res as unknown as Timed).stepMs;
          console.log(
            `${name} ${t}T ${impl.padEnd(7)} round ${r + 1}: ${s.median} ms/step (${s.min}..${s.max}), ${String(res.imagesPerSecond)} img/s, peak ${String(res.peakRssMiB)} MiB`,
          );
        }
      }
    }
  }

  const sinkhorn: Record<string, unknown>[] = [];
  for (let r = 0; r < sinkhornRounds; r++) {
    for (const t of threads) {
      const order = withReference ? (r % 2 === 0 ? ['tfjs', 'pytorch'] : ['pytorch', 'tfjs']) : ['tfjs'];
      for (const impl of order) {
        const res =
          impl === 'tfjs'
            ? {
                implementation: 'tfjs+ml',
                ...exec(process.execPath, [__filename, '--child', 'sinkhorn', '--warmup', '2', '--steps', '10'], {
                  TF_NUM_INTRAOP_THREADS: `${t}`,
                }),
              }
            : exec(python, [refScript, '--sinkhorn', '--threads', `${t}`, '--warmup', '2', '--steps', '10'], {});
        sinkhorn.push({ ...res, round: r + 1, threads: t });
        const line =
          impl === 'tfjs'
            ? `tfjs ${(res.tfjs as Timed).stepMs.median} ms, ml ${(res.ml as Timed).stepMs.median} ms`
            : `pytorch ${(res as unknown as Timed).stepMs.median} ms`;
        console.log(`sinkhorn 4096x3000 ${t}T round ${r + 1}: ${line}`);
      }
    }
  }

  // Ratios of medians over rounds (each round's median step), per workload and thread count.
  const med = (rows: Record<string, unknown>[], pick: (x: Record<string, unknown>) => number) => median(rows.map(pick));
  const summary: Record<string, unknown>[] = [];
  for (const name of names) {
    for (const t of threads) {
      const rows = results.filter((x) => x.workload === name && x.threads === t);
      const tj = rows.filter((x) => x.implementation === 'tfjs');
      const pt = rows.filter((x) => x.implementation === 'pytorch');
      const step = (x: Record<string, unknown>) => (x as unknown as Timed).stepMs.median;
      const tfjsMs = med(tj, step);
      const row: Record<string, unknown> = {
        workload: name,
        threads: t,
        tfjsStepMs: tfjsMs,
        tfjsImagesPerSecond: Math.round((WORKLOADS[name]!.batch / tfjsMs) * 10000) / 10,
        tfjsPeakRssMiB: Math.max(...tj.map((x) => Number(x.peakRssMiB))),
      };
      if (pt.length) {
        const ptMs = med(pt, step);
        Object.assign(row, {
          pytorchStepMs: ptMs,
          pytorchImagesPerSecond: Math.round((WORKLOADS[name]!.batch / ptMs) * 10000) / 10,
          pytorchPeakRssMiB: Math.max(...pt.map((x) => Number(x.peakRssMiB))),
          ratioTfjsOverPytorch: Math.round((tfjsMs / ptMs) * 1000) / 1000,
          ratioPerRound: tj.map((x, i) => Math.round((step(x) / step(pt[i] as Record<string, unknown>)) * 1000) / 1000),
        });
      }
      summary.push(row);
    }
  }
  for (const t of threads) {
    const rows = sinkhorn.filter((x) => x.threads === t);
    const tj = rows.filter((x) => x.implementation === 'tfjs+ml');
    const pt = rows.filter((x) => x.implementation === 'pytorch');
    const tfjsMs = med(tj, (x) => (x.tfjs as Timed).stepMs.median);
    const mlMs = med(tj, (x) => (x.ml as Timed).stepMs.median);
    const row: Record<string, unknown> = { workload: 'sinkhorn-B4096-K3000-it3', threads: t, tfjsMs, mlMs };
    if (pt.length) {
      const ptMs = med(pt, (x) => (x as unknown as Timed).stepMs.median);
      Object.assign(row, {
        pytorchMs: ptMs,
        ratioTfjsOverPytorch: Math.round((tfjsMs / ptMs) * 1000) / 1000,
        ratioMlOverPytorch: Math.round((mlMs / ptMs) * 1000) / 1000,
      });
    }
    summary.push(row);
  }
  console.table(summary.map(({ ratioPerRound: _r, ...rest }) => rest));

  const date = new Date().toISOString();
  const out = {
    date,
    command: process.argv.join(' '),
    host: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    env: Object.fromEntries(
      [...Object.keys(ALLOCATOR), 'OMP_WAIT_POLICY', 'SEERFLOW_BACKEND'].map((k) => [k, env[k] ?? null]),
    ),
    loadavg1m: load,
    note: 'shared 2-core host: absolute times drift between runs; compare the ratios measured within this run',
    summary,
    results,
    sinkhorn,
  };
  const file = arg('out', `bench/results/train-step-${date.slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

main();
