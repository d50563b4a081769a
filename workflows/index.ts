/** Every workflow type the orchestrator worker registers. Workflow type names are durable: never rename. */
export { ingestWorkflow, ingestPartitionWorkflow, ingestProgressQuery } from './ingest';
export { preprocessWorkflow, preprocessProgressQuery } from './preprocess';
export {
  pretrainWorkflow,
  pretrainProgressQuery,
  pauseSignal,
  resumeSignal,
  checkpointCommittedSignal,
} from './pretrain';
export { evaluateWorkflow, evaluateProgressQuery } from './evaluate';
export { seerPipelineWorkflow, pipelineProgressQuery } from './pipeline';
export { scheduledPipelineWorkflow, scheduledProgressQuery } from './scheduled';
