/**
 * SwAV training state <-> bytes, so a checkpoint written to S3 and loaded in a fresh process continues exactly:
 * every model tensor (weights, BN running statistics, prototypes), every LARS momentum buffer, the feature queue
 * and the step counter. The bytes are a state container of kind 'swav' (engine/state-container.ts,
 * docs/training-kit.md); this module fixes only the tensors and their order: model store order, then momentum in
 * parameter order, then the queue, so the same state always serialises to the same bytes.
 */
import { assignValues } from './params';
import {
  readStateContainer,
  StateFormatError,
  takeTensors,
  writeStateContainer,
  type ParsedState,
  type StateContainerHeader,
  type TensorSource,
  type TensorSpec,
} from './state-container';
import { FeatureQueue } from './swav-model';
import type { SwavTrainer } from './swav-step';

export { StateFormatError, type StateTensor } from './state-container';

/** The header of a restored SwAV state, with `queueFilled` (rows of the feature queue filled) from its kindMeta. */
export type StateHeader = StateContainerHeader & { queueFilled: number };

/** The tensors of a trainer's state, in serialisation order (model store, momentum, queue). */
function stateItems(trainer: SwavTrainer): TensorSource[] {
  const out: TensorSource[] = trainer.model.store.entries().map((e) => ({
    name: e.name,
    shape: e.shape,
    read: () => e.variable.dataSync() as Float32Array,
  }));
  const momentum = trainer.optimizer.momentumSlots();
  let cached: Float32Array[] | undefined;
  momentum.forEach((m, i) =>
    out.push({
      name: `optim.momentum.${m.name}`,
      shape: m.shape,
      read: () => (cached ??= trainer.optimizer.exportMomentum())[i] as Float32Array,
    }),
  );
  const q = trainer.queue;
  if (q) out.push({ name: 'queue', shape: q.data.shape, read: () => q.data.dataSync() as Float32Array });
  return out;
}

/** Serialise the full training state of `trainer`; `meta` must be JSON-serialisable. */
export function serializeState(trainer: SwavTrainer, meta: unknown = null): Uint8Array {
  return writeStateContainer({
    kind: 'swav',
    step: trainer.iteration,
    kindMeta: { queueFilled: trainer.queue?.filled ?? 0 },
    tensors: stateItems(trainer),
    meta,
  });
}

/** Verify and parse a SwAV state (also the version-1 layout of earlier releases). */
export function readStateHeader(bytes: Uint8Array): ParsedState {
  return readStateContainer(bytes, 'swav');
}

/**
 * The trunk tensors (`trunk.*`, weights and BN running statistics) of a SwAV state for a model whose trunk
 * entries are `trunk`, matched by name and shape; nothing is assigned (classifier and detector initialisation).
 * @throws StateFormatError when the state is corrupt or lacks or mis-shapes a trunk tensor.
 */
export function swavTrunkValues(
  bytes: Uint8Array,
  trunk: readonly TensorSpec[],
): { values: Float32Array[]; step: number } {
  const state = readStateHeader(bytes);
  return { values: takeTensors(state, trunk, 'byName', 'SwAV state'), step: state.header.step };
}

/**
 * Load a state into `trainer` (same model and optimizer configuration). Every tensor must match by name and
 * shape; nothing is changed unless all do.
 * @throws StateFormatError on corruption or any mismatch.
 */
export function restoreState(trainer: SwavTrainer, bytes: Uint8Array): StateHeader {
  const state = readStateHeader(bytes);
  const { header } = state;
  const queueT = header.tensors.find((t) => t.name === 'queue');
  if (queueT && queueT.shape.length !== 3) throw new StateFormatError('queue tensor must be rank 3');
  if (queueT && trainer.cfg.queueLength === 0) throw new StateFormatError('state has a queue, the config has none');
  const expected = stateItems(trainer).filter((t) => t.name !== 'queue');
  const want = expected.length + (queueT ? 1 : 0);
  if (header.tensors.length !== want) {
    throw new StateFormatError(`state has ${header.tensors.length} tensors, model expects ${want}`);
  }
  const values = takeTensors(state, expected, 'byName');
  const queueFilled = Number(header.kindMeta?.queueFilled ?? 0);
  let queueValues: Float32Array | undefined;
  if (queueT) {
    const [crops, length, dim] = queueT.shape as [number, number, number];
    const fits = crops === trainer.cfg.cropsForAssign.length && dim === trainer.model.head.featureDim;
    if (!fits || length > trainer.cfg.queueLength) {
      throw new StateFormatError(`queue shape ${queueT.shape.join('x')} does not fit the config`);
    }
    queueValues = takeTensors(state, [queueT], 'byName')[0];
  }
  const entries = trainer.model.store.entries();
  entries.forEach((e, i) => assignValues(e.variable, values[i] as Float32Array));
  trainer.optimizer.importMomentum(values.slice(entries.length));
  trainer.queue?.dispose();
  trainer.queue = undefined;
  if (queueT && queueValues) {
    const [crops, length, dim] = queueT.shape as [number, number, number];
    const q = new FeatureQueue(crops, length, dim, 1);
    assignValues(q.data, queueValues);
    q.filled = queueFilled;
    trainer.queue = q;
  }
  trainer.iteration = header.step;
  return { ...header, queueFilled };
}
