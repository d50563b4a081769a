/**
 * Named parameter storage shared by the trunk, head and optimizer: tf.Variables in a stable (creation) order,
 * each with a logical name, a role and a trainable flag. The order is what checkpoints and the optimizer rely on.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, hashInts } from '../ml/rng';

/** What a tensor is; decides its initialisation and whether it is trained. */
export type ParamRole = 'conv' | 'linear' | 'bias' | 'bn-gamma' | 'bn-beta' | 'bn-mean' | 'bn-var' | 'prototypes';

/** One named tensor of a model. */
export interface ParamEntry {
  /** Logical name, unique in the store, e.g. `trunk.s1.b1.a.conv.weight`. */
  readonly name: string;
  readonly role: ParamRole;
  readonly shape: readonly number[];
  /** False for BN running statistics (buffers). */
  readonly trainable: boolean;
  readonly variable: tf.Variable;
  /** Initialisation of 'linear', 'bias' and 'prototypes' tensors (others follow their role). */
  readonly init?: LinearInit;
}

let storeCounter = 0;

/** Trainable unless it is a BN running statistic. */
export function isTrainableRole(role: ParamRole): boolean {
  return role !== 'bn-mean' && role !== 'bn-var';
}

/** Ordered, named tf.Variables. tfjs variable names are globally unique, so each store gets its own scope. */
export class ParamStore {
  private readonly list: ParamEntry[] = [];
  private readonly byName = new Map<string, ParamEntry>();
  private readonly scope = `seerflow${++storeCounter}`;

  /** Create a zero-filled variable (values come from {@link initParam} or a checkpoint). */
  add(name: string, role: ParamRole, shape: readonly number[], init?: LinearInit): tf.Variable {
    if (this.byName.has(name)) throw new Error(`parameter ${name} defined twice`);
    const trainable = isTrainableRole(role);
    const variable = tf.variable(tf.zeros([...shape]), trainable, `${this.scope}/${name}`, 'float32');
    const entry: ParamEntry = { name, role, shape: [...shape], trainable, variable, ...(init ? { init } : {}) };
    this.list.push(entry);
    this.byName.set(name, entry);
    return variable;
  }

  /** The variable of a name; throws when missing. */
  get(name: string): tf.Variable {
    const e = this.byName.get(name);
    if (!e) throw new Error(`no parameter named ${name}`);
    return e.variable;
  }

  /** All entries in creation order. */
  entries(): readonly ParamEntry[] {
    return this.list;
  }

  /** Trainable entries in creation order. */
  trainable(): ParamEntry[] {
    return this.list.filter((e) => e.trainable);
  }

  /** Number of trainable scalars. */
  trainableCount(prefix = ''): number {
    return this.list
      .filter((e) => e.trainable && e.name.startsWith(prefix))
      .reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** Initialise every tensor whose name starts with `prefix` from `seed` (see {@link initValues}). */
  initAll(seed: number, prefix = ''): void {
    for (const e of this.list) if (e.name.startsWith(prefix)) assignValues(e.variable, initValues(seed, e, e.init));
  }

  dispose(): void {
    for (const e of this.list) e.variable.dispose();
    this.list.length = 0;
    this.byName.clear();
  }
}

function nameKey(name: string): number {
  return hashInts(Array.from(name, (c) => c.codePointAt(0) ?? 0));
}

/**
 * Fan-out of a conv filter [kh, kw, cin/groups, cout] as pycls/torchvision compute it: kh * kw * cout. A rank-2
 * 'conv' tensor [cin, cout] is a 1x1 conv stored as a matrix (the SE layers): fan-out cout.
 */
function convFanOut(shape: readonly number[]): number {
  if (shape.length === 2) return shape[1] ?? 1;
  return (shape[0] ?? 1) * (shape[1] ?? 1) * (shape[3] ?? 1);
}

/**
 * Initial values of one tensor, drawn from a stream keyed by (seed, name): independent of creation order, so
 * adding a layer does not change the others. Reference initialisation (pycls/torchvision RegNet):
 * conv ~ N(0, sqrt(2 / fan_out)); BN gamma 1, beta 0, running mean 0, running var 1; classifier linear
 * ~ N(0, 0.01) with bias 0. Head linears and prototypes use PyTorch's nn.Linear default,
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as SwAV leaves them; `fanIn` must then be given.
 */
export function initValues(
  seed: number,
  e: Pick<ParamEntry, 'name' | 'role' | 'shape'>,
  init?: LinearInit,
): Float32Array {
  const n = e.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const rng = Rng.keyed(seed, 0x1417, nameKey(e.name));
  switch (e.role) {
    case 'conv': {
      const std = Math.sqrt(2 / convFanOut(e.shape));
      for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
      break;
    }
    case 'bn-gamma':
    case 'bn-var':
      out.fill(1);
      break;
    case 'bn-beta':
    case 'bn-mean':
      break;
    case 'linear':
    case 'bias':
    case 'prototypes': {
      const mode = init ?? { kind: 'zero' };
      if (mode.kind === 'normal') for (let i = 0; i < n; i++) out[i] = rng.normal() * mode.std;
      else if (mode.kind === 'uniform') for (let i = 0; i < n; i++) out[i] = rng.uniform(-mode.bound, mode.bound);
      break;
    }
  }
  return out;
}

/** How a linear weight or bias is initialised. */
export type LinearInit = { kind: 'zero' } | { kind: 'normal'; std: number } | { kind: 'uniform'; bound: number };

/** Overwrite a variable with host values of the same size. */
export function assignValues(v: tf.Variable, values: Float32Array): void {
  tf.tidy(() => v.assign(tf.tensor(values, v.shape, 'float32')));
}
