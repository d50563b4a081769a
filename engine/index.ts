/**
 * The training engine's public face: a SwAV + RegNetY engine on TensorFlow.js, built from config slices.
 * Everything tfjs stays behind this interface; callers pass plain arrays and bytes.
 */
import type { OptimConfig, RegNetConfig, SwavConfig } from '../config/schema';
import { regnetSpec, type RegNetSpec } from '../ml/regnet';
import { initBackend, type BackendInfo, type InitBackendOptions } from './backend';
import { LarsOptimizer } from './lars';
import { restoreState, serializeState, type StateHeader } from './state';
import { SwavModel } from './swav-model';
import { SwavTrainer, type SwavBatch, type SwavStepResult } from './swav-step';

export type { BackendInfo } from './backend';
export { NonFiniteLossError } from '../contracts/errors';
export type { SwavBatch, SwavStepResult } from './swav-step';
export { StateFormatError, type StateHeader } from './state';

/** The config slices the engine needs (from `SeerConfig`). */
export interface SwavEngineConfig {
  regnet: RegNetConfig;
  swav: Pick<
    SwavConfig,
    | 'hiddenDims'
    | 'headBatchNorm'
    | 'featureDim'
    | 'prototypes'
    | 'temperature'
    | 'epsilon'
    | 'sinkhornIterations'
    | 'crops'
    | 'cropsForAssign'
    | 'freezePrototypesIters'
    | 'queueLength'
    | 'epochQueueStarts'
  >;
  optim: Pick<OptimConfig, 'momentum' | 'weightDecay' | 'larsTrustCoefficient'>;
}

/** A SwAV training engine instance (one model, one optimizer state). */
export interface SwavEngine {
  /** Backend that runs it; record it with checkpoints and reports. */
  readonly info: BackendInfo;
  readonly spec: RegNetSpec;
  /** Deterministic initialisation of all weights from `seed`; resets the step counter, momentum and queue. */
  init(seed: number): void;
  /** Restore a state written by {@link SwavEngine.saveState} (any process). Throws StateFormatError on mismatch. */
  loadState(bytes: Uint8Array): StateHeader;
  /**
   * Start a new run from another run's state: weights and BN statistics are taken, the step counter, momentum
   * and feature queue start fresh (scheduled retraining warm-starts this way).
   */
  warmStart(bytes: Uint8Array): StateHeader;
  /** The full training state as bytes (weights, BN statistics, momentum, queue, step), checksummed. */
  saveState(meta?: unknown): Uint8Array;
  /** One training step at learning rate `lr`. Throws NonFiniteLossError on a NaN/inf loss. */
  step(batch: SwavBatch, lr: number): SwavStepResult;
  /** Trunk features (eval mode) of `n` NHWC images of `size` px: row-major [n, outWidth]. */
  embed(images: Float32Array, n: number, size: number): Float32Array;
  /** Completed steps. */
  readonly stepCount: number;
  /** Trainable scalars (trunk + head + prototypes). */
  trainableParamCount(): number;
  /** Free every tensor. */
  dispose(): void;
}

/** Options of {@link createSwavEngine}. */
export interface CreateEngineOptions {
  backend?: InitBackendOptions;
  /** Use the tfjs fallbacks for conv and BN even on native TF (tests). */
  fallbackOps?: boolean;
}

/** Build the model, optimizer and step runner for a config (lower level than {@link createSwavEngine}). */
export function createSwavTrainer(cfg: SwavEngineConfig, opts: { fallbackOps?: boolean } = {}): SwavTrainer {
  const spec = regnetSpec(cfg.regnet);
  const model = new SwavModel(spec, cfg.swav, opts.fallbackOps ? { fallback: true } : {});
  const optimizer = new LarsOptimizer(model.store.trainable(), {
    momentum: cfg.optim.momentum,
    weightDecay: cfg.optim.weightDecay,
    trustCoefficient: cfg.optim.larsTrustCoefficient,
  });
  return new SwavTrainer(model, optimizer, cfg.swav);
}

/** Build an engine: selects the backend (once per process), resolves the RegNet spec and allocates tensors. */
export function createSwavEngine(cfg: SwavEngineConfig, opts: CreateEngineOptions = {}): SwavEngine {
  const info = initBackend(opts.backend);
  const spec = regnetSpec(cfg.regnet);
  const build = (): SwavTrainer => createSwavTrainer(cfg, opts.fallbackOps ? { fallbackOps: true } : {});
  let trainer = build();
  const free = (t: SwavTrainer): void => {
    t.queue?.dispose();
    t.optimizer.dispose();
    t.model.dispose();
  };
  return {
    info,
    spec,
    init(seed: number) {
      free(trainer);
      trainer = build();
      trainer.model.init(seed);
    },
    loadState(bytes: Uint8Array) {
      return restoreState(trainer, bytes); // verifies checksum and every shape before touching anything
    },
    warmStart(bytes: Uint8Array) {
      const header = restoreState(trainer, bytes);
      trainer.iteration = 0;
      trainer.optimizer.importMomentum(trainer.optimizer.exportMomentum().map((m) => new Float32Array(m.length)));
      trainer.queue?.dispose();
      trainer.queue = undefined;
      return header;
    },
    saveState(meta?: unknown) {
      return serializeState(trainer, meta ?? null);
    },
    step(batch: SwavBatch, lr: number) {
      return trainer.step(batch, lr);
    },
    embed(images: Float32Array, n: number, size: number) {
      return trainer.embed(images, n, size);
    },
    get stepCount() {
      return trainer.iteration;
    },
    trainableParamCount() {
      return trainer.model.trainableParamCount();
    },
    dispose() {
      free(trainer);
    },
  };
}
