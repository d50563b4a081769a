/** The pipeline's durable interface: workflow IDs, progress shape. Safe to import from workflows. */
import { defineQuery } from '@temporalio/workflow';
import type { SeerConfig } from '../config/schema';
import type { EvaluationResult } from './evaluate';
import type { IngestResult } from './ingest';
import type { PreprocessResult } from './preprocess';
import type { PretrainResult } from './pretrain';

export type StageName = 'ingest' | 'preprocess' | 'pretrain' | 'evaluate';
export const STAGES: StageName[] = ['ingest', 'preprocess', 'pretrain', 'evaluate'];

export type StageStatus = 'pending' | 'running' | 'done' | 'failed' | 'not-built';

export interface StageProgress {
  status: StageStatus;
  startedAt?: number;
  finishedAt?: number;
  /** ID of the child workflow running the stage */
  workflowId?: string;
}

export interface PipelineProgress {
  runName: string;
  preset: string;
  stage: StageName | 'done' | 'failed';
  stages: Record<StageName, StageProgress>;
}

export interface PipelineInput {
  config: SeerConfig;
  /** Start pretraining from this checkpoint key (another run's) instead of random weights. */
  warmStartFrom?: string;
}

export interface PipelineResult {
  runName: string;
  ingest: IngestResult;
  preprocess: PreprocessResult;
  pretrain: PretrainResult;
  /** absent when `eval.enabled` is false */
  evaluate?: EvaluationResult;
  stages: Record<StageName, StageProgress>;
}

export const workflowIds = {
  pipeline: (runName: string) => `seerflow/${runName}`,
  stage: (runName: string, stage: StageName) => `seerflow/${runName}/${stage}`,
  /** `seerflow ingest` on its own: a namespace apart from the ingest stage of pipeline `runName`. */
  standaloneIngest: (runName: string) => `seerflow-ingest/${runName}`,
  /** `seerflow eval` on its own: a namespace apart from the evaluate stage of pipeline `runName`. */
  standaloneEvaluate: (runName: string) => `seerflow-eval/${runName}`,
};

/** Memo key: digest (config/digest.ts) of the input the CLI started a workflow with; compared when a name is reused. */
export const CONFIG_DIGEST_MEMO = 'seerflowConfigDigest';

/** Progress of the whole pipeline (which stage, each stage's status and child workflow ID). */
export const pipelineProgressQuery = defineQuery<PipelineProgress>('progress');
