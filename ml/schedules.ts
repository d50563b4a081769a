/**
 * SwAV learning-rate schedule, one value per iteration: a linear warmup that includes both end points
 * (`np.linspace(startWarmupLr, baseLr, warmupIters)`), then a half cosine from baseLr towards finalLr over the
 * remaining T iterations, lr_t = final + (base - final) * (1 + cos(pi * t / T)) / 2 for t = 0..T-1.
 */

/** Options of the SwAV schedule. */
export interface LrScheduleOptions {
  baseLr: number;
  finalLr: number;
  /** First warmup value (SwAV 0.3 for batch 4096; 0 when unused). */
  startWarmupLr: number;
  /** Warmup length in epochs; itersPerEpoch * warmupEpochs must be a whole number of iterations. */
  warmupEpochs: number;
  epochs: number;
  itersPerEpoch: number;
}

interface Resolved {
  warmupIters: number;
  cosineIters: number;
}

function wholeIterations(name: string, x: number): number {
  const r = Math.round(x);
  // Tolerate float noise such as 312 * 0.1 * 10; anything else is a configuration error.
  if (!Number.isFinite(x) || Math.abs(x - r) > 1e-9 * Math.max(1, Math.abs(x))) {
    throw new RangeError(`${name} must be a whole number of iterations, got ${x}`);
  }
  return r;
}

function resolve(o: LrScheduleOptions): Resolved {
  for (const key of ['baseLr', 'finalLr', 'startWarmupLr'] as const) {
    if (!Number.isFinite(o[key]) || o[key] < 0)
      throw new RangeError(`${key} must be a finite number >= 0, got ${o[key]}`);
  }
  if (!Number.isInteger(o.itersPerEpoch) || o.itersPerEpoch < 1) {
    throw new RangeError(`itersPerEpoch must be a positive integer, got ${o.itersPerEpoch}`);
  }
  if (!(o.epochs > 0)) throw new RangeError(`epochs must be > 0, got ${o.epochs}`);
  if (!(o.warmupEpochs >= 0) || o.warmupEpochs > o.epochs) {
    throw new RangeError(`warmupEpochs must be in [0, epochs], got ${o.warmupEpochs}`);
  }
  const warmupIters = wholeIterations('itersPerEpoch * warmupEpochs', o.itersPerEpoch * o.warmupEpochs);
  const totalIters = wholeIterations('itersPerEpoch * epochs', o.itersPerEpoch * o.epochs);
  return { warmupIters, cosineIters: totalIters - warmupIters };
}

/** Total number of iterations the schedule covers (warmup + cosine). */
export function lrScheduleLength(opts: LrScheduleOptions): number {
  const r = resolve(opts);
  return r.warmupIters + r.cosineIters;
}

function valueAt(i: number, o: LrScheduleOptions, r: Resolved): number {
  if (i < r.warmupIters) {
    // NumPy linspace: start + i * step, with the last point set to stop exactly.
    if (i === r.warmupIters - 1 && r.warmupIters > 1) return o.baseLr;
    if (r.warmupIters === 1) return o.startWarmupLr;
    return o.startWarmupLr + i * ((o.baseLr - o.startWarmupLr) / (r.warmupIters - 1));
  }
  const t = i - r.warmupIters;
  return o.finalLr + 0.5 * (o.baseLr - o.finalLr) * (1 + Math.cos((Math.PI * t) / r.cosineIters));
}

/**
 * Learning rate at a 0-based global iteration.
 *
 * @throws RangeError when the iteration is outside [0, itersPerEpoch * epochs) or the options are invalid.
 */
export function lrAt(iteration: number, opts: LrScheduleOptions): number {
  const r = resolve(opts);
  const total = r.warmupIters + r.cosineIters;
  if (!Number.isInteger(iteration) || iteration < 0 || iteration >= total) {
    throw new RangeError(`iteration must be an integer in [0, ${total}), got ${iteration}`);
  }
  return valueAt(iteration, opts, r);
}

/** The whole schedule, one learning rate per iteration (like SwAV's `lr_schedule` array). */
export function lrSchedule(opts: LrScheduleOptions): Float64Array {
  const r = resolve(opts);
  const out = new Float64Array(r.warmupIters + r.cosineIters);
  for (let i = 0; i < out.length; i++) out[i] = valueAt(i, opts, r);
  return out;
}
