/** A realistic pipeline result (tiny preset shape) for the report tests, with and without an evaluation. */
import { loadConfig } from '../../../config/load';
import type {
  ClassificationProtocol,
  ClassificationRun,
  DetectionRun,
  EvaluationResult,
  Initialisation,
} from '../../../contracts/evaluate';
import type { PipelineResult } from '../../../contracts/pipeline';
import { seedStat } from '../../../ml/stats';
import { reportDataFrom, type ReportData, type TrainingPoint } from '../../../report/build-report';

export const RUN = 'report-fixture';
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

export function pipelineResult(): PipelineResult {
  const history = [50, 100, 150, 200, 250, 300].map((step, i) => ({
    step,
    loss: 5.9 - i * 0.31,
    lr: 0.6 * Math.cos((Math.PI * step) / 600) ** 2 + 0.0006,
  }));
  return {
    runName: RUN,
    ingest: {
      runName: RUN,
      listed: 1234,
      accepted: 1187,
      quarantined: 35,
      unchanged: 12,
      bytes: 48_200_000,
      quarantineByReason: { 'not-an-image': 14, truncated: 9, 'too-small': 7, corrupt: 5 },
      partitions: 16,
      cachedPartitions: 4,
      reconciled: true,
      summaryKey: `runs/${RUN}/ingest/summary.json`,
      manifestShards: 3,
      coordinatorRuns: 1,
    },
    preprocess: {
      runName: RUN,
      datasetKey: `runs/${RUN}/preprocess/dataset.json`,
      entries: 1187,
      images: 1183,
      quarantined: 4,
      bytes: 21_700_000,
      parts: 5,
      shards: 3,
      cachedShards: 1,
      reconciled: true,
      coordinatorRuns: 1,
    },
    pretrain: {
      runName: RUN,
      checkpoint: {
        key: `runs/${RUN}/pretrain/checkpoints/step-00000300-a1.state`,
        step: 300,
        cursor: { epoch: 2, position: 0 },
        sha256: 'ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12',
        bytes: 9_800_000,
        loss: 4.35,
        backend: 'tensorflow (native CPU)',
      },
      steps: 300,
      epochs: 2,
      finalLoss: 4.35,
      backend: 'tensorflow (native CPU)',
      computeSeconds: 240,
      history,
      cached: false,
    },
    stages: {
      ingest: { status: 'done', startedAt: T0, finishedAt: T0 + 42_000, workflowId: `seerflow/${RUN}/ingest` },
      preprocess: {
        status: 'done',
        startedAt: T0 + 42_500,
        finishedAt: T0 + 97_000,
        workflowId: `seerflow/${RUN}/preprocess`,
      },
      pretrain: {
        status: 'done',
        startedAt: T0 + 97_400,
        finishedAt: T0 + 352_000,
        workflowId: `seerflow/${RUN}/pretrain`,
      },
      evaluate: { status: 'not-built' },
    },
  };
}

const TOP1: Record<ClassificationProtocol, Record<Initialisation, number[]>> = {
  linear: { pretrained: [71.2, 70.6, 71.9], scratch: [38.4, 40.1, 39.0] },
  finetune: { pretrained: [84.3, 83.9, 84.8], scratch: [80.2, 79.6, 81.1] },
  'lowshot-1': { pretrained: [52.5, 49.8, 54.1], scratch: [31.2, 35.6, 28.9] },
  'lowshot-10': { pretrained: [71.4, 70.2, 72.3], scratch: [60.1, 61.7, 58.8] },
};
const FRACTION: Record<ClassificationProtocol, number> = {
  linear: 1,
  finetune: 1,
  'lowshot-1': 0.01,
  'lowshot-10': 0.1,
};
/** AP, AP50, AP75 per seed (pycocotools scale). */
const AP: Record<Initialisation, [number, number, number][]> = {
  pretrained: [
    [0.352, 0.561, 0.371],
    [0.347, 0.552, 0.366],
    [0.358, 0.57, 0.379],
  ],
  scratch: [
    [0.211, 0.392, 0.205],
    [0.223, 0.401, 0.214],
    [0.205, 0.385, 0.199],
  ],
};

export function evaluation(): EvaluationResult {
  const classification: ClassificationRun[] = [];
  const summary: EvaluationResult['summary'] = {};
  for (const protocol of Object.keys(TOP1) as ClassificationProtocol[]) {
    summary[protocol] = {};
    for (const init of ['pretrained', 'scratch'] as Initialisation[]) {
      const values = TOP1[protocol][init];
      (summary[protocol] as Record<string, unknown>)[init] = seedStat(values);
      values.forEach((top1, seed) =>
        classification.push({
          protocol,
          init,
          seed,
          labelFraction: FRACTION[protocol],
          trainImages: Math.round(60000 * FRACTION[protocol]),
          testImages: 10000,
          epochs: 5,
          top1,
          finalTop1: top1 - 0.3,
          curve: [top1 - 9, top1 - 3, top1 - 1, top1 - 0.4, top1 - 0.3],
          computeSeconds: 30,
        }),
      );
    }
  }
  const detection: DetectionRun[] = [];
  const detectionSummary: EvaluationResult['detectionSummary'] = {};
  for (const init of ['pretrained', 'scratch'] as Initialisation[]) {
    AP[init].forEach(([ap, ap50, ap75], seed) =>
      detection.push({
        init,
        seed,
        trainImages: 500,
        testImages: 100,
        epochs: 4,
        stats: [ap, ap50, ap75, 0.1, 0.3, 0.5, 0.3, 0.4, 0.45, 0.2, 0.4, 0.6],
        computeSeconds: 50,
      }),
    );
    detectionSummary[init] = {
      AP: seedStat(AP[init].map((r) => r[0])),
      AP50: seedStat(AP[init].map((r) => r[1])),
      AP75: seedStat(AP[init].map((r) => r[2])),
    };
  }
  return {
    runName: RUN,
    checkpointKey: pipelineResult().pretrain.checkpoint.key,
    classification,
    summary,
    detection,
    detectionSummary,
    resultKey: `runs/${RUN}/evaluate/evaluation.json`,
  };
}

/** Per-segment curves with throughput (as `seerflow report` collects them from the pretrain workflow's history). */
export function segments(): TrainingPoint[] {
  return pipelineResult().pretrain.history.map((h, i) => ({ ...h, imagesPerSec: 40 + i * 3, computeSeconds: 40 }));
}

export function reportData(withEvaluation: boolean): ReportData {
  const p = pipelineResult();
  const config = loadConfig({ preset: 'tiny', set: [`run.name=${RUN}`] });
  const stages = withEvaluation
    ? {
        ...p.stages,
        evaluate: {
          status: 'done' as const,
          startedAt: T0 + 352_500,
          finishedAt: T0 + 610_000,
          workflowId: `seerflow/${RUN}/evaluate`,
        },
      }
    : p.stages;
  return reportDataFrom(
    { ...p, stages, ...(withEvaluation ? { evaluate: evaluation() } : {}) },
    {
      config,
      generatedAt: '2026-11-27T12:15:00.000Z',
      run: {
        workflowId: `seerflow/${RUN}`,
        status: 'COMPLETED',
        startedAt: T0 - 500,
        closedAt: T0 + (withEvaluation ? 610_400 : 352_400),
      },
      ...(withEvaluation ? { training: segments() } : {}),
    },
  );
}
