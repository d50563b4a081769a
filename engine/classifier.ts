/**
 * Supervised evaluation model: the engine's RegNetY trunk plus a linear classifier, trained with SGD momentum.
 * Two modes, as SwAV's evaluation scripts:
 * - `linear`: the trunk is frozen in eval mode (BN uses its running statistics, nothing in the trunk changes);
 *   features are the globally average-pooled trunk output; only the classifier is trained.
 * - `finetune`: the whole network is trained, BN in training mode (batch statistics, running statistics updated).
 * The trunk starts from a SwAV engine state (its `trunk.*` tensors, matched by name and shape) or from the
 * engine's seeded initialisation (scratch). The classifier is N(0, 0.01) with zero bias, as `eval_linear.py`,
 * behind a BatchNorm without affine parameters (`eval_linear.py`'s `use_bn` option, MAE's linear probe): pooled
 * features of a SwAV and of a scratch tiny trunk differ ~100x in scale, and without the normalisation one
 * learning rate cannot suit both (docs/evaluation.md).
 * Trunk and classifier are separate optimizer groups with their own learning rates (eval_semisup.py).
 * Deterministic: same seed, inputs and learning rates give bit-identical weights on the same backend.
 */
import * as tf from '@tensorflow/tfjs';
import type { RegNetConfig } from '../config/schema';
import { regnetSpec, type RegNetSpec } from '../ml/regnet';
import { initBackend, type BackendInfo, type InitBackendOptions } from './backend';
import { LarsOptimizer } from './lars';
import { batchNormInfer, batchNormTrain, matMul, RunningStatsCollector } from './native-ops';
import { assignValues, ParamStore, type ParamEntry } from './params';
import { RegNetTrunk } from './regnet-model';
import { NonFiniteLossError } from '../contracts/errors';
import { swavTrunkValues } from './state';
import {
  readStateContainer,
  StateFormatError,
  takeTensors,
  writeStateContainer,
  type TensorSource,
} from './state-container';

/** How the trunk is treated during training. */
export type ClassifierMode = 'linear' | 'finetune';

/** What {@link createClassifier} needs. */
export interface ClassifierConfig {
  regnet: RegNetConfig;
  numClasses: number;
  mode: ClassifierMode;
  /** SGD momentum (no dampening, no Nesterov). @default 0.9 */
  momentum?: number;
  /** Coupled (PyTorch SGD) weight decay, applied to every trained tensor. */
  weightDecay: number;
  /** Use the tfjs fallbacks for conv and BN even on the native backend (tests). */
  fallbackOps?: boolean;
  backend?: InitBackendOptions;
}

/** Learning rates of one step, per optimizer group. */
export interface GroupLr {
  trunk: number;
  head: number;
}

/** What one training step reports. */
export interface ClassifierStepResult {
  /** mean cross-entropy of the batch */
  loss: number;
  /** completed steps after this one */
  step: number;
}

const HEAD_PREFIX = 'classifier.';
const TRUNK_PREFIX = 'trunk.';

/** RegNetY trunk + linear classifier with per-group SGD. Build it with {@link createClassifier}. */
export class RegNetClassifier {
  readonly info: BackendInfo;
  readonly spec: RegNetSpec;
  readonly mode: ClassifierMode;
  readonly numClasses: number;
  private readonly store = new ParamStore();
  private readonly trunk: RegNetTrunk;
  private readonly fcW: tf.Variable;
  private readonly fcB: tf.Variable;
  private readonly bnMean: tf.Variable;
  private readonly bnVar: tf.Variable;
  private readonly bnOnes: tf.Tensor1D;
  private readonly bnZeros: tf.Tensor1D;
  private trunkOpt: LarsOptimizer | undefined;
  private headOpt: LarsOptimizer;
  private readonly cfg: ClassifierConfig;
  /** Completed training steps. */
  stepCount = 0;

  constructor(cfg: ClassifierConfig, info: BackendInfo) {
    if (!Number.isInteger(cfg.numClasses) || cfg.numClasses < 2)
      throw new RangeError(`numClasses must be >= 2, got ${cfg.numClasses}`);
    this.cfg = cfg;
    this.info = info;
    this.mode = cfg.mode;
    this.numClasses = cfg.numClasses;
    this.spec = regnetSpec(cfg.regnet);
    // Same names as inside a SwAV state (`trunk.*`), so pretrained tensors map one to one.
    this.trunk = new RegNetTrunk(this.spec, this.store, {
      prefix: 'trunk',
      ...(cfg.fallbackOps ? { fallback: true } : {}),
    });
    this.fcW = this.store.add(`${HEAD_PREFIX}weight`, 'linear', [this.spec.outWidth, cfg.numClasses], {
      kind: 'normal',
      std: 0.01,
    });
    this.fcB = this.store.add(`${HEAD_PREFIX}bias`, 'bias', [cfg.numClasses]);
    this.bnMean = this.store.add(`${HEAD_PREFIX}bn.running_mean`, 'bn-mean', [this.spec.outWidth]);
    this.bnVar = this.store.add(`${HEAD_PREFIX}bn.running_var`, 'bn-var', [this.spec.outWidth]);
    this.bnOnes = tf.keep(tf.ones([this.spec.outWidth]));
    this.bnZeros = tf.keep(tf.zeros([this.spec.outWidth]));
    [this.trunkOpt, this.headOpt] = this.buildOptimizers();
  }

  private group(prefix: string): ParamEntry[] {
    return this.store.trainable().filter((e) => e.name.startsWith(prefix));
  }

  private buildOptimizers(): [LarsOptimizer | undefined, LarsOptimizer] {
    // trustCoefficient 0 turns LARC off: plain SGD with momentum and coupled weight decay (torch.optim.SGD).
    const opts = { momentum: this.cfg.momentum ?? 0.9, weightDecay: this.cfg.weightDecay, trustCoefficient: 0 };
    const trunk = this.mode === 'finetune' ? new LarsOptimizer(this.group(TRUNK_PREFIX), opts) : undefined;
    return [trunk, new LarsOptimizer(this.group(HEAD_PREFIX), opts)];
  }

  private resetOptimizers(): void {
    this.trunkOpt?.dispose();
    this.headOpt.dispose();
    [this.trunkOpt, this.headOpt] = this.buildOptimizers();
    this.stepCount = 0;
  }

  /** Seeded initialisation of trunk (engine init, as a scratch SwAV run) and classifier; fresh optimizer state. */
  init(seed: number): void {
    this.store.initAll(seed);
    this.resetOptimizers();
  }

  /**
   * Initialise from a SwAV engine state: classifier (and anything else) from `seed`, then every `trunk.*` tensor
   * (weights and BN running statistics) from the state, matched by name and shape.
   * @throws StateFormatError when the state is corrupt or lacks a trunk tensor of this architecture.
   */
  initFromSwavState(bytes: Uint8Array, seed: number): { step: number; tensors: number } {
    const trunk = this.store.entries().filter((e) => e.name.startsWith(TRUNK_PREFIX));
    const { values, step } = swavTrunkValues(bytes, trunk); // checks everything before changing anything
    this.init(seed);
    trunk.forEach((e, i) => assignValues(e.variable, values[i] as Float32Array));
    return { step, tensors: trunk.length };
  }

  /** BatchNorm (no affine; batch statistics when training) then the linear layer. */
  private logits(feats: tf.Tensor2D, training: boolean, stats?: RunningStatsCollector): tf.Tensor2D {
    const z = training
      ? batchNormTrain(feats, this.bnOnes, this.bnZeros, {
          runningMean: this.bnMean,
          runningVar: this.bnVar,
          fallback: this.cfg.fallbackOps ?? false,
          ...(stats ? { collector: stats } : {}),
        })
      : batchNormInfer(feats, this.bnOnes, this.bnZeros, this.bnMean as tf.Tensor1D, this.bnVar as tf.Tensor1D);
    return tf.add(matMul(z, this.fcW as tf.Tensor2D), this.fcB) as tf.Tensor2D;
  }

  /**
   * One SGD step on `n` NHWC images of `size` px with integer labels.
   * @throws NonFiniteLossError on a NaN/inf loss (weights, BN statistics and momentum unchanged).
   */
  step(images: Float32Array, labels: Int32Array, n: number, size: number, lr: GroupLr): ClassifierStepResult {
    if (images.length !== n * size * size * 3)
      throw new RangeError(`expected ${n * size * size * 3} pixel values, got ${images.length}`);
    if (labels.length !== n) throw new RangeError(`expected ${n} labels, got ${labels.length}`);
    for (const l of labels)
      if (l < 0 || l >= this.numClasses) throw new RangeError(`label ${l} outside [0, ${this.numClasses})`);
    const x = tf.tensor4d(images, [n, size, size, 3]);
    const target = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), this.numClasses).toFloat() as tf.Tensor2D);
    const ce = (logits: tf.Tensor2D): tf.Scalar =>
      tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1))) as tf.Scalar;
    const stats = new RunningStatsCollector(0.1);
    let value: tf.Scalar;
    let grads: tf.NamedTensorMap;
    if (this.mode === 'linear') {
      // Frozen trunk: features in eval mode, outside the tape; only the classifier gets gradients.
      const feats = tf.tidy(() => this.trunk.forward(x, false));
      ({ value, grads } = tf.variableGrads(() => ce(this.logits(feats, true, stats)), [this.fcW, this.fcB]));
      feats.dispose();
    } else {
      const vars = this.store.trainable().map((e) => e.variable);
      ({ value, grads } = tf.variableGrads(
        () => ce(this.logits(this.trunk.forward(x, true, stats), true, stats)),
        vars,
      ));
    }
    x.dispose();
    target.dispose();
    const loss = value.dataSync()[0] as number;
    value.dispose();
    if (!Number.isFinite(loss)) {
      tf.dispose(Object.values(grads));
      stats.discard();
      throw new NonFiniteLossError(this.stepCount, loss, 'classifier loss');
    }
    stats.flush();
    // variableGrads keys by tfjs variable name; the optimizers want logical names.
    const named = (prefix: string): Record<string, tf.Tensor> => {
      const out: Record<string, tf.Tensor> = {};
      for (const e of this.group(prefix)) {
        const g = grads[e.variable.name];
        if (g) out[e.name] = g;
      }
      return out;
    };
    this.trunkOpt?.step(named(TRUNK_PREFIX), lr.trunk);
    this.headOpt.step(named(HEAD_PREFIX), lr.head);
    tf.dispose(Object.values(grads));
    this.stepCount += 1;
    return { loss, step: this.stepCount };
  }

  /** Logits (eval mode, no gradient) of `n` NHWC images, row-major [n, numClasses]; runs in chunks of `chunk`. */
  predictLogits(images: Float32Array, n: number, size: number, chunk = 256): Float32Array {
    const plane = size * size * 3;
    if (images.length !== n * plane) throw new RangeError(`expected ${n * plane} pixel values, got ${images.length}`);
    const out = new Float32Array(n * this.numClasses);
    for (let i = 0; i < n; i += chunk) {
      const m = Math.min(chunk, n - i);
      const part = tf.tidy(() => {
        const x = tf.tensor4d(images.subarray(i * plane, (i + m) * plane), [m, size, size, 3]);
        return this.logits(this.trunk.forward(x, false), false).dataSync() as Float32Array;
      });
      out.set(part, i * this.numClasses);
    }
    return out;
  }

  /** Top-1 class of each image (first maximum on ties, as torch.topk on CPU). */
  predict(images: Float32Array, n: number, size: number): Int32Array {
    const logits = this.predictLogits(images, n, size);
    const C = this.numClasses;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < C; c++) if ((logits[i * C + c] as number) > (logits[i * C + best] as number)) best = c;
      out[i] = best;
    }
    return out;
  }

  /** Copies of every trunk tensor (weights and BN statistics), in store order (tests, frozen-trunk checks). */
  trunkValues(): Float32Array[] {
    return this.store
      .entries()
      .filter((e) => e.name.startsWith(TRUNK_PREFIX))
      .map((e) => (e.variable.dataSync() as Float32Array).slice());
  }

  /** Trunk features (eval mode) [n, outWidth], row-major. */
  embed(images: Float32Array, n: number, size: number): Float32Array {
    return tf.tidy(() => this.trunk.forward(tf.tensor4d(images, [n, size, size, 3]), false).dataSync() as Float32Array);
  }

  /** The tensors of the state, in order: model store, then momentum of the trunk group (finetune) and the head. */
  private stateItems(): TensorSource[] {
    const items: TensorSource[] = this.store
      .entries()
      .map((e) => ({ name: e.name, shape: e.shape, read: () => e.variable.dataSync() as Float32Array }));
    for (const [group, opt] of [
      ['trunk', this.trunkOpt],
      ['head', this.headOpt],
    ] as const) {
      if (!opt) continue;
      let cached: Float32Array[] | undefined;
      opt.momentumSlots().forEach((m, i) =>
        items.push({
          name: `optim.${group}.momentum.${m.name}`,
          shape: m.shape,
          read: () => (cached ??= opt.exportMomentum())[i] as Float32Array,
        }),
      );
    }
    return items;
  }

  /**
   * Full training state (weights, BN statistics, momentum, step) as a 'classifier' state container
   * (docs/training-kit.md); same state, same bytes.
   */
  saveState(meta: unknown = null): Uint8Array {
    return writeStateContainer({
      kind: 'classifier',
      step: this.stepCount,
      kindMeta: { mode: this.mode },
      tensors: this.stateItems(),
      meta,
    });
  }

  /**
   * Restore a state written by {@link saveState} for the same architecture and mode.
   * @returns the writer's metadata. @throws StateFormatError on corruption or any mismatch (nothing changed then).
   */
  loadState(bytes: Uint8Array): { step: number; meta: unknown } {
    const state = readStateContainer(bytes, 'classifier');
    const mode = state.header.kindMeta?.mode;
    if (mode !== this.mode) throw new StateFormatError(`state is for mode ${String(mode)}, model is ${this.mode}`);
    const values = takeTensors(state, this.stateItems(), 'exact', 'classifier state');
    const entries = this.store.entries();
    entries.forEach((e, i) => assignValues(e.variable, values[i] as Float32Array));
    let k = entries.length;
    for (const opt of [this.trunkOpt, this.headOpt]) {
      if (!opt) continue;
      const n = opt.momentumSlots().length;
      opt.importMomentum(values.slice(k, k + n));
      k += n;
    }
    this.stepCount = state.header.step;
    return { step: state.header.step, meta: state.header.meta };
  }

  /** Trainable scalars (trunk + classifier). */
  trainableParamCount(): number {
    return this.store.trainableCount();
  }

  dispose(): void {
    this.trunkOpt?.dispose();
    this.headOpt.dispose();
    this.store.dispose();
    tf.dispose([this.bnOnes, this.bnZeros]);
  }
}

/** Select the backend (once per process) and build a classifier; call `init` or `initFromSwavState` next. */
export function createClassifier(cfg: ClassifierConfig): RegNetClassifier {
  const info = initBackend(cfg.backend);
  return new RegNetClassifier(cfg, info);
}
