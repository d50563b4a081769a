/**
 * The classification protocols of SwAV's evaluation scripts (reference: swav-seer.md §6), scaled to a run's
 * epoch budget and batch size. Pure: no I/O.
 *
 * Scaling rules (docs/evaluation.md):
 * - learning rates follow the linear scaling rule from the reference batch of 256: lr * batch / 256;
 * - schedules keep their shape in fractions of training: cosine to 0 over `epochs` (linear), milestones at the
 *   same fractions of `epochs`, rounded to the nearest epoch (fine-tune, low-shot);
 * - an epoch has as many steps for every protocol as one pass over the full labelled train set; a low-shot subset
 *   is repeated (reshuffled each pass) to fill it, so a 1% run still takes enough optimisation steps.
 */
import type { ClassificationProtocol } from '../../contracts/evaluate';

/** Everything that differs between protocols. */
export interface ProtocolSettings {
  /** linear: frozen trunk in eval mode; finetune: whole network */
  mode: 'linear' | 'finetune';
  weightDecay: number;
  /** learning rates of trunk and classifier at `epoch` (0-based), stepped once per epoch as the reference */
  lr(epoch: number): { trunk: number; head: number };
  /** the reference values, for the docs and result files */
  reference: { trunkLr: number; headLr: number; batch: number; epochs: number; schedule: string };
}

const REF_BATCH = 256;

/** Milestones at fixed fractions of the reference epochs, moved to `epochs` (nearest epoch, at least 1). */
export function scaledMilestones(refMilestones: readonly number[], refEpochs: number, epochs: number): number[] {
  return refMilestones.map((m) => Math.max(1, Math.round((m / refEpochs) * epochs)));
}

/** PyTorch MultiStepLR stepped per epoch: base * gamma^(milestones passed). */
export function multiStep(base: number, milestones: readonly number[], gamma: number, epoch: number): number {
  return base * gamma ** milestones.filter((m) => epoch >= m).length;
}

/** PyTorch CosineAnnealingLR(T_max = epochs, eta_min = 0) stepped per epoch. */
export function cosineEpoch(base: number, epochs: number, epoch: number): number {
  return (base * (1 + Math.cos((Math.PI * epoch) / epochs))) / 2;
}

/** The scaled settings of `protocol` for `epochs` epochs at batch size `batch`. */
export function protocolSettings(protocol: ClassificationProtocol, epochs: number, batch: number): ProtocolSettings {
  if (!Number.isInteger(epochs) || epochs < 1) throw new RangeError(`epochs must be a positive integer, got ${epochs}`);
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive integer, got ${batch}`);
  const k = batch / REF_BATCH;
  switch (protocol) {
    case 'linear': {
      // eval_linear.py: lr 0.3, wd 1e-6, 100 epochs, cosine to 0 per epoch; trunk frozen.
      const head = 0.3 * k;
      return {
        mode: 'linear',
        weightDecay: 1e-6,
        lr: (e) => ({ trunk: 0, head: cosineEpoch(head, epochs, e) }),
        reference: { trunkLr: 0, headLr: 0.3, batch: REF_BATCH, epochs: 100, schedule: 'cosine to 0, per epoch' },
      };
    }
    case 'finetune': {
      // VISSL in1k full fine-tune: lr 0.1 per 256, wd 0, multistep [30, 60, 90, 100] of 105 epochs, gamma 0.1.
      const ms = scaledMilestones([30, 60, 90, 100], 105, epochs);
      const base = 0.1 * k;
      return {
        mode: 'finetune',
        weightDecay: 0,
        lr: (e) => ({ trunk: multiStep(base, ms, 0.1, e), head: multiStep(base, ms, 0.1, e) }),
        reference: {
          trunkLr: 0.1,
          headLr: 0.1,
          batch: REF_BATCH,
          epochs: 105,
          schedule: `multistep [30,60,90,100]/105 x0.1 -> [${ms.join(',')}]`,
        },
      };
    }
    case 'lowshot-1':
    case 'lowshot-10': {
      // eval_semisup.py: wd 0, 20 epochs, milestones [12, 16], gamma 0.2; 1%: trunk 0.02 head 5; 10%: 0.01 / 0.2.
      const [trunkRef, headRef] = protocol === 'lowshot-1' ? [0.02, 5] : [0.01, 0.2];
      const ms = scaledMilestones([12, 16], 20, epochs);
      return {
        mode: 'finetune',
        weightDecay: 0,
        lr: (e) => ({ trunk: multiStep(trunkRef * k, ms, 0.2, e), head: multiStep(headRef * k, ms, 0.2, e) }),
        reference: {
          trunkLr: trunkRef,
          headLr: headRef,
          batch: REF_BATCH,
          epochs: 20,
          schedule: `multistep [12,16]/20 x0.2 -> [${ms.join(',')}]`,
        },
      };
    }
  }
}
