/**
 * Backend selection for the training engine, done once per process and always reported (never silently):
 * native GPU (`@tensorflow/tfjs-node-gpu`, only when its addon is built) > native CPU (`@tensorflow/tfjs-node`)
 * > wasm (`@tensorflow/tfjs-backend-wasm`, not wired up) > pure-JS `cpu`. Anything below native CPU is a warning
 * with the reason, carried in {@link BackendInfo} so checkpoints and reports record what actually ran.
 *
 * On the native backend this also applies the three speed settings of the native build notes: TensorFlow's own
 * ReluGrad/SigmoidGrad as gradients, `tf.enableProdMode()`, and one intra-op thread.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

/** Which backend runs the engine's ops. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** What the engine runs on; record it next to every checkpoint and benchmark. */
export interface BackendInfo {
  /** tfjs backend name. */
  name: BackendName;
  /** True when ops run in native TensorFlow (fast path: grouped conv, fused BN, native activation grads). */
  native: boolean;
  /** Device of the native backend; 'cpu' for every non-native backend. */
  device: 'gpu' | 'cpu';
  /** Native TensorFlow library version (e.g. '2.21.0'), null when not native. */
  tfVersion: string | null;
  /** tfjs-core version. */
  tfjsVersion: string;
  /** npm package that provided the backend. */
  package: string;
  /** TensorFlow intra-op threads requested through TF_NUM_INTRAOP_THREADS (native only). */
  intraOpThreads: number | null;
  /** Why a better backend was not used; present whenever this is below native CPU or forced. */
  fallbackReason?: string;
}

/** Values of the `SEERFLOW_BACKEND` environment variable that force a backend. */
export type ForcedBackend = 'cpu' | 'tensorflow' | 'tensorflow-gpu';

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Force a backend (overrides `SEERFLOW_BACKEND`). A forced native backend that fails to load throws. */
  force?: ForcedBackend;
  /** Intra-op threads for native TF when TF_NUM_INTRAOP_THREADS is unset. @default 1 (measured faster) */
  intraOpThreads?: number;
  /** Where warnings go. @default console.warn */
  warn?: (message: string) => void;
}

/** Minimal view of tfjs-node's kernel backend that the native ops need. */
export interface NativeKernelBackend {
  binding: {
    TF_Version: string;
    TF_ATTR_STRING: number;
    TF_ATTR_INT: number;
    TF_ATTR_FLOAT: number;
    TF_ATTR_BOOL: number;
    TF_ATTR_TYPE: number;
    TF_FLOAT: number;
    TF_INT32: number;
  };
  isUsingGpuDevice: boolean;
  executeSingleOutput(name: string, attrs: NativeOpAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: NativeOpAttr[], inputs: tf.TensorInfo[], numOutputs: number): tf.Tensor[];
}

/** One TFE op attribute as the tfjs-node binding expects it. */
export interface NativeOpAttr {
  name: string;
  type: number;
  value: boolean | number | object | string | number[];
}

let current: BackendInfo | undefined;

/** The backend chosen by {@link initBackend}, or undefined before it ran. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/** True when the active tfjs backend is native TensorFlow. */
export function isNative(): boolean {
  return tf.getBackend() === 'tensorflow';
}

/** The native kernel backend; throws when the active backend is not native TensorFlow. */
export function nativeBackend(): NativeKernelBackend {
  if (!isNative()) throw new Error(`native TensorFlow backend is not active (active: ${tf.getBackend()})`);
  return tf.backend() as unknown as NativeKernelBackend;
}

function packageDir(pkg: string): string | undefined {
  try {
    return path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return undefined;
  }
}

/** Path of a built tfjs-node(-gpu) addon, or undefined. */
function builtAddon(pkg: string): string | undefined {
  const dir = packageDir(pkg);
  if (!dir) return undefined;
  const lib = path.join(dir, 'lib');
  if (!fs.existsSync(lib)) return undefined;
  for (const sub of fs.readdirSync(lib).sort()) {
    const p = path.join(lib, sub, 'tfjs_binding.node');
    if (sub.startsWith('napi-v') && fs.existsSync(p)) return p;
  }
  return undefined;
}

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? 'unknown error';
}

/**
 * Load a native package. The addon is required first on its own so that a broken build (missing CUDA libraries,
 * ABI mismatch) fails before the package registers any kernels.
 */
function loadNative(pkg: string): { tfVersion: string; gpu: boolean } {
  const addon = builtAddon(pkg);
  if (!addon) throw new Error(`${pkg}: addon not built (no lib/napi-v*/tfjs_binding.node)`);
  const binding = require(addon) as { TF_Version?: string };
  if (typeof binding.TF_Version !== 'string') throw new Error(`${pkg}: addon does not report TF_Version`);
  require(pkg);
  if (tf.getBackend() !== 'tensorflow') throw new Error(`${pkg}: loaded but the 'tensorflow' backend is not active`);
  return { tfVersion: binding.TF_Version, gpu: nativeBackend().isUsingGpuDevice };
}

function parseForced(v: string | undefined): ForcedBackend | undefined {
  if (v === undefined || v === '') return undefined;
  if (v === 'cpu' || v === 'tensorflow' || v === 'tensorflow-gpu') return v;
  throw new RangeError(`SEERFLOW_BACKEND must be cpu, tensorflow or tensorflow-gpu, got '${v}'`);
}

/**
 * Choose and activate the backend (idempotent: later calls return the first result). Synchronous, because the
 * native packages load synchronously and the pure-JS `cpu` backend needs no async init.
 *
 * @throws Error when a forced native backend cannot be loaded, or SEERFLOW_BACKEND is invalid.
 */
export function initBackend(opts: InitBackendOptions = {}): BackendInfo {
  if (current) return current;
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const forced = opts.force ?? parseForced(process.env.SEERFLOW_BACKEND);
  // TF reads these when its eager context is created, i.e. while the package loads.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  process.env.TF_NUM_INTRAOP_THREADS ??= String(opts.intraOpThreads ?? 1);
  const threads = Number(process.env.TF_NUM_INTRAOP_THREADS) || null;
  const reasons: string[] = [];
  const base = { tfjsVersion: tf.version_core };

  const tryNative = (pkg: string, want: 'gpu' | 'cpu', required: boolean): BackendInfo | undefined => {
    try {
      const { tfVersion, gpu } = loadNative(pkg);
      const info: BackendInfo = {
        ...base,
        name: 'tensorflow',
        native: true,
        device: gpu ? 'gpu' : 'cpu',
        tfVersion,
        package: pkg,
        intraOpThreads: threads,
      };
      if (want === 'gpu' && !gpu) info.fallbackReason = `${pkg} loaded but TensorFlow found no GPU device`;
      return info;
    } catch (e) {
      const msg = `${pkg}: ${errorText(e)}`;
      if (required) throw new Error(`SEERFLOW_BACKEND forces ${pkg}, which failed to load: ${msg}`);
      reasons.push(msg);
      return undefined;
    }
  };

  let info: BackendInfo | undefined;
  if (forced === 'tensorflow-gpu') info = tryNative('@tensorflow/tfjs-node-gpu', 'gpu', true);
  else if (forced === 'tensorflow') info = tryNative('@tensorflow/tfjs-node', 'cpu', true);
  else if (forced === 'cpu') reasons.push('forced by SEERFLOW_BACKEND=cpu');
  else {
    if (builtAddon('@tensorflow/tfjs-node-gpu')) info = tryNative('@tensorflow/tfjs-node-gpu', 'gpu', false);
    info ??= tryNative('@tensorflow/tfjs-node', 'cpu', false);
    if (!info) {
      // The wasm tier needs the composite Conv2D gradient of the build notes (§7); not wired up yet.
      reasons.push(
        packageDir('@tensorflow/tfjs-backend-wasm')
          ? 'wasm: @tensorflow/tfjs-backend-wasm is installed but this engine does not support it yet'
          : 'wasm: @tensorflow/tfjs-backend-wasm is not installed',
      );
    }
  }
  if (!info) {
    if (!tf.findBackend('cpu')) throw new Error('pure-JS cpu backend is not registered');
    void tf.setBackend('cpu');
    if (tf.getBackend() !== 'cpu') throw new Error(`could not activate the cpu backend (active: ${tf.getBackend()})`);
    info = {
      ...base,
      name: 'cpu',
      native: false,
      device: 'cpu',
      tfVersion: null,
      package: '@tensorflow/tfjs-backend-cpu',
      intraOpThreads: null,
      fallbackReason: reasons.join('; '),
    };
  }
  tf.enableProdMode();
  registerActivationGradients();
  if (info.fallbackReason) {
    warn(`[seerflow engine] WARNING: running on ${info.name}/${info.device} (${info.package}): ${info.fallbackReason}`);
  }
  current = info;
  return current;
}

let gradientsRegistered = false;

/**
 * Replace tfjs's Relu and Sigmoid gradients (about 7 full-size ops per ReLU) with TensorFlow's ReluGrad and
 * SigmoidGrad on the native backend. The gradient registry is global (not per backend), so each gradient checks
 * the active backend and falls back to the plain tfjs formula elsewhere. Both work from the op's output.
 */
export function registerActivationGradients(): void {
  if (gradientsRegistered) return;
  gradientsRegistered = true;
  tf.registerGradient({
    kernelName: tf.Relu,
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const y = saved[0] as tf.Tensor;
      const g = dy as tf.Tensor;
      if (isNative()) return { x: () => nativeBackend().executeSingleOutput('ReluGrad', [floatT()], [g, y]) };
      return { x: () => tf.mul(g, tf.step(y)) };
    },
  });
  tf.registerGradient({
    kernelName: tf.Sigmoid,
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const y = saved[0] as tf.Tensor;
      const g = dy as tf.Tensor;
      if (isNative()) return { x: () => nativeBackend().executeSingleOutput('SigmoidGrad', [floatT()], [y, g]) };
      return { x: () => tf.mul(g, tf.mul(y, tf.sub(1, y))) };
    },
  });
}

/** A type attribute (`T: float32` by default) for native op calls. */
export function floatT(name = 'T', dtype: 'float32' | 'int32' = 'float32'): NativeOpAttr {
  const b = nativeBackend().binding;
  return { name, type: b.TF_ATTR_TYPE, value: dtype === 'float32' ? b.TF_FLOAT : b.TF_INT32 };
}
