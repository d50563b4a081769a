/**
 * Every workflow type the orchestrator worker registers. Workflow type names are durable: never rename. Their
 * signals and queries are defined in `contracts/`, next to the types they carry.
 */
export { ingestWorkflow, ingestPartitionWorkflow } from './ingest';
export { preprocessWorkflow } from './preprocess';
export { pretrainWorkflow } from './pretrain';
export { evaluateWorkflow } from './evaluate';
export { seerPipelineWorkflow } from './pipeline';
export { scheduledPipelineWorkflow } from './scheduled';
