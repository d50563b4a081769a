/**
 * The SEER pipeline: ingest -> canonical shards -> SwAV pretraining -> evaluation, each stage a child workflow
 * with a deterministic ID derived from the run name. Stages that are not built yet are reported as such.
 */
import { executeChild, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { IngestResult } from '../contracts/ingest';
import {
  pipelineProgressQuery,
  STAGES,
  workflowIds,
  type PipelineInput,
  type PipelineProgress,
  type PipelineResult,
  type StageName,
} from '../contracts/pipeline';
import { SEER_RUN, SEER_STAGE } from '../contracts/search-attributes';
import { evaluateWorkflow } from './evaluate';
import { ingestWorkflow } from './ingest';
import { preprocessWorkflow } from './preprocess';
import { pretrainWorkflow } from './pretrain';
import type { PretrainResult } from '../contracts/pretrain';
import type { PreprocessResult } from '../contracts/preprocess';
import { evaluationInputFor, type EvaluationResult } from '../contracts/evaluate';

export async function seerPipelineWorkflow(input: PipelineInput): Promise<PipelineResult> {
  const cfg = input.config;
  const runName = cfg.run.name;
  const progress: PipelineProgress = {
    runName,
    preset: cfg.preset,
    stage: 'ingest',
    stages: Object.fromEntries(STAGES.map((s) => [s, { status: 'pending' }])) as PipelineProgress['stages'],
  };
  setHandler(pipelineProgressQuery, () => progress);

  const enter = (stage: StageName) => {
    progress.stage = stage;
    progress.stages[stage] = {
      status: 'running',
      startedAt: Date.now(),
      workflowId: workflowIds.stage(runName, stage),
    };
    upsertSearchAttributes([
      { key: SEER_STAGE, value: stage },
      { key: SEER_RUN, value: runName },
    ]);
  };
  const leave = (stage: StageName) => {
    progress.stages[stage] = { ...progress.stages[stage], status: 'done', finishedAt: Date.now() };
  };

  const stage = async <T>(name: StageName, run: () => Promise<T>): Promise<T> => {
    enter(name);
    try {
      const result = await run();
      leave(name);
      return result;
    } catch (err) {
      progress.stage = 'failed';
      progress.stages[name].status = 'failed';
      throw err;
    }
  };

  const ingest: IngestResult = await stage('ingest', () =>
    executeChild(ingestWorkflow, {
      workflowId: workflowIds.stage(runName, 'ingest'),
      args: [{ runName, config: cfg.ingest }],
    }),
  );
  const preprocess: PreprocessResult = await stage('preprocess', () =>
    executeChild(preprocessWorkflow, {
      workflowId: workflowIds.stage(runName, 'preprocess'),
      args: [
        {
          runName,
          bucket: cfg.ingest.bucket,
          ingestSummaryKey: ingest.summaryKey,
          config: cfg.preprocess,
          maxPixels: cfg.ingest.maxPixels,
          maxParallelShards: cfg.preprocess.maxParallelShards,
          shardsPerRun: cfg.preprocess.shardsPerRun,
        },
      ],
    }),
  );
  const pretrain: PretrainResult = await stage('pretrain', () =>
    executeChild(pretrainWorkflow, {
      workflowId: workflowIds.stage(runName, 'pretrain'),
      args: [
        {
          job: {
            runName,
            bucket: cfg.ingest.bucket,
            datasetKey: preprocess.datasetKey,
            seed: cfg.run.seed,
            regnet: cfg.model.regnet,
            swav: cfg.swav,
            optim: cfg.optim,
            train: cfg.train,
            ...(input.warmStartFrom ? { warmStartFrom: input.warmStartFrom } : {}),
          },
        },
      ],
    }),
  );
  let evaluate: EvaluationResult | undefined;
  if (cfg.eval.enabled) {
    evaluate = await stage('evaluate', () =>
      executeChild(evaluateWorkflow, {
        workflowId: workflowIds.stage(runName, 'evaluate'),
        args: [evaluationInputFor(cfg, runName, pretrain.checkpoint)],
      }),
    );
  } else progress.stages.evaluate.status = 'not-built'; // disabled by config: reported like a stage that does not run
  progress.stage = 'done';
  upsertSearchAttributes([{ key: SEER_STAGE, value: 'done' }]);
  return { runName, ingest, preprocess, pretrain, ...(evaluate ? { evaluate } : {}), stages: progress.stages };
}
