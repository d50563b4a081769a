/**
 * Reference LARC (apex, `clip=False` by default) wrapped around PyTorch SGD with momentum, over plain arrays. It is
 * the oracle the tfjs optimizer is checked against, so it mirrors the float32 arithmetic of PyTorch op by op
 * (each tensor op rounds to float32 via `Math.fround`); norms are accumulated in float64.
 *
 * Per parameter p with gradient g (parameters without a gradient, e.g. frozen prototypes, are skipped entirely:
 * no weight decay, no momentum update):
 *   if |p| != 0 and |g| != 0:  lambda = eta*|p| / (|g| + wd*|p| + eps);  g = (g + wd*p) * lambda
 *   buf = momentum * buf + g;  p = p - lr * buf
 * When |p| or |g| is 0 the gradient is used as is and no weight decay is applied (apex behaviour).
 */

/** One parameter tensor, flattened. `momentum` is the optimizer state and is updated in place. */
export interface LarsParam {
  value: Float32Array;
  /** Gradient; `null` (or `frozen`) means "no gradient this step" and skips the parameter. */
  grad: Float32Array | null;
  /** Momentum buffer; created (zero) on first use when absent. */
  momentum?: Float32Array;
  /** Skip this parameter (e.g. prototypes during `freezePrototypesIters`). */
  frozen?: boolean;
}

/** Hyperparameters of one LARC+SGD step. */
export interface LarsOptions {
  lr: number;
  /** SGD momentum (no dampening, no Nesterov). @default 0.9 */
  momentum?: number;
  weightDecay: number;
  /** LARC trust coefficient eta; 0 disables LARC and runs plain SGD with coupled weight decay. @default 0.001 */
  trustCoefficient?: number;
  /** @default 1e-8 */
  eps?: number;
  /** apex `clip=True`: the effective rate is min(lambda / lr, 1) instead of lambda. @default false */
  clip?: boolean;
}

/** What happened to one parameter, for logging and tests. */
export interface LarsParamReport {
  skipped: boolean;
  /** The LARC factor applied to the gradient (1 when the skip rule or plain SGD applied). */
  adaptiveLr: number;
  paramNorm: number;
  gradNorm: number;
}

function l2(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] as number) * (x[i] as number);
  return Math.sqrt(s);
}

/**
 * Apply one LARC + SGD-momentum step in place to every parameter (values and momentum buffers).
 *
 * @returns one report per parameter, in order.
 * @throws RangeError on invalid hyperparameters or when a gradient/buffer length differs from its parameter.
 */
export function larsStep(params: readonly LarsParam[], opts: LarsOptions): LarsParamReport[] {
  const momentum = opts.momentum ?? 0.9;
  const eta = opts.trustCoefficient ?? 0.001;
  const eps = opts.eps ?? 1e-8;
  const wd = opts.weightDecay;
  for (const [name, v] of [
    ['lr', opts.lr],
    ['momentum', momentum],
    ['weightDecay', wd],
    ['trustCoefficient', eta],
    ['eps', eps],
  ] as const) {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${v}`);
  }
  const f = Math.fround;
  const lr32 = f(opts.lr);
  const mom32 = f(momentum);
  const wd32 = f(wd);

  return params.map((p, idx) => {
    const { value, grad } = p;
    if (!grad || p.frozen) return { skipped: true, adaptiveLr: 1, paramNorm: l2(value), gradNorm: 0 };
    if (grad.length !== value.length) {
      throw new RangeError(`param ${idx}: gradient has ${grad.length} entries, parameter has ${value.length}`);
    }
    if (!p.momentum) p.momentum = new Float32Array(value.length);
    const buf = p.momentum;
    if (buf.length !== value.length) throw new RangeError(`param ${idx}: momentum buffer length ${buf.length}`);

    const paramNorm = l2(value);
    const gradNorm = l2(grad);
    let decay = 0;
    let scale = 1;
    if (eta === 0) {
      decay = wd32; // plain SGD: g + wd * p
    } else if (paramNorm !== 0 && gradNorm !== 0) {
      let lambda = (eta * paramNorm) / (gradNorm + paramNorm * wd + eps);
      if (opts.clip) lambda = Math.min(lambda / opts.lr, 1);
      scale = f(lambda);
      decay = wd32;
    }
    for (let i = 0; i < value.length; i++) {
      const pi = value[i] as number;
      let gi = grad[i] as number;
      if (decay !== 0) gi = f(gi + f(decay * pi));
      if (scale !== 1) gi = f(gi * scale);
      const b = f(f(mom32 * (buf[i] as number)) + gi);
      buf[i] = b;
      value[i] = f(pi - f(lr32 * b));
    }
    return { skipped: false, adaptiveLr: scale, paramNorm, gradNorm };
  });
}
