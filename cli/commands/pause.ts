/** `seerflow pause <workflowId>`: stop pretraining at once (the running segment checkpoints first), until `seerflow resume`. */
import type { Command } from 'commander';
import { pauseSignal } from '../../contracts/pretrain';
import { registerPretrainSignal } from '../workflow-control';

export function register(program: Command): void {
  registerPretrainSignal(
    program,
    'pause',
    pauseSignal,
    'pause pretraining of a pipeline (seerflow/<run>) or pretrain workflow; it checkpoints first',
  );
}
