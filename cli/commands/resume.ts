/** `seerflow resume <workflowId>`: continue a paused run from its newest checkpoint. */
import type { Command } from 'commander';
import { resumeSignal } from '../../contracts/pretrain';
import { registerPretrainSignal } from '../workflow-control';

export function register(program: Command): void {
  registerPretrainSignal(program, 'resume', resumeSignal, 'resume paused pretraining from the newest checkpoint');
}
