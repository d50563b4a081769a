/**
 * `seerflow eval <checkpointKey>`: evaluate any SwAV checkpoint in the bucket with the classification protocols
 * (linear, fine-tune, low-shot) and the detection benchmark (pretrained vs scratch, every seed), follow the
 * progress, print the tables.
 */
import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import { configDigest } from '../../config/digest';
import { evaluationInputFor, type EvaluationResult } from '../../contracts/evaluate';
import { workflowIds } from '../../contracts/pipeline';
import type { CheckpointPointer } from '../../contracts/pretrain';
import { SEER_RUN } from '../../contracts/search-attributes';
import { createS3Client, getBytes, getJson } from '../../infra/s3';
import { loadServiceSettings } from '../../infra/settings';
import { evaluateWorkflow } from '../../workflows';
import { formatEvaluation } from '../eval-table';
import { follow } from '../progress';
import {
  addConfigOptions,
  configFromOptions,
  connectClient,
  printJson,
  settleWorkflow,
  stopLocalWorkers,
  type ConfigCliOptions,
} from '../common';
import { CliError, EXIT } from '../exit-codes';
import { ensureWorkers, startOrAttach } from '../launch';
import { workflowUiUrl } from '../summary';

interface EvalOptions extends ConfigCliOptions {
  json?: boolean;
  attach?: boolean;
  workers: boolean;
}

/** The pointer of a checkpoint key: from its run's latest.json when listed there, else from the object itself. */
async function checkpointPointer(bucket: string, key: string): Promise<CheckpointPointer> {
  const s3 = createS3Client(loadServiceSettings().s3);
  const run = /^runs\/([^/]+)\/pretrain\/checkpoints\//.exec(key)?.[1];
  if (run) {
    const latest = await getJson<{ history?: CheckpointPointer[] }>(
      s3,
      bucket,
      `runs/${run}/pretrain/checkpoints/latest.json`,
    );
    const known = latest?.history?.find((p) => p.key === key);
    if (known) return known;
  }
  const bytes = await getBytes(s3, bucket, key);
  if (!bytes) throw new CliError(`checkpoint s3://${bucket}/${key} not found`, EXIT.usage);
  const step = Number(/step-(\d+)/.exec(key)?.[1] ?? 0);
  return {
    key,
    step,
    cursor: { epoch: 0, position: 0 },
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes: bytes.length,
    loss: Number.NaN,
    backend: 'unknown',
  };
}

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('eval')
      .description(
        'evaluate a SwAV checkpoint: linear, fine-tune and low-shot classification and detection AP, pretrained vs scratch',
      )
      .argument(
        '<checkpointKey>',
        'S3 key of an engine state, e.g. runs/demo/pretrain/checkpoints/step-00000126-a1.state',
      ),
  )
    .option('--json', 'print the result as JSON')
    .option('--attach', 'follow a running evaluation of this name even when it evaluates something else')
    .option('--no-workers', 'do not start local workers when no worker takes the evaluation')
    .action(async (checkpointKey: string, opts: EvalOptions) => {
      const cfg = configFromOptions(opts);
      // Results go under runs/<name>/evaluate/; by default the run that wrote the checkpoint.
      const runName = opts.name ?? /^runs\/([^/]+)\//.exec(checkpointKey)?.[1] ?? cfg.run.name;
      const checkpoint = await checkpointPointer(cfg.ingest.bucket, checkpointKey);
      const settings = loadServiceSettings();
      const { client, connection } = await connectClient(settings);
      const workflowId = workflowIds.standaloneEvaluate(runName);
      let workers: Awaited<ReturnType<typeof ensureWorkers>>;
      try {
        const input = evaluationInputFor(cfg, runName, checkpoint);
        const launch = { workflowId, digest: configDigest(input), attach: opts.attach };
        await startOrAttach(client, settings, launch, (options) =>
          client.workflow.start(evaluateWorkflow, {
            ...options,
            args: [input],
            typedSearchAttributes: [{ key: SEER_RUN, value: runName }],
          }),
        );
        const url = workflowUiUrl(settings.temporal.uiUrl, settings.temporal.namespace, workflowId);
        process.stderr.write(
          `evaluation ${workflowId} of ${checkpointKey} (preset ${cfg.preset})\nTemporal UI: ${url}\n`,
        );
        workers = await ensureWorkers(client, settings, workflowId, opts.workers);
        // The same live progress as `seerflow run` (a bar on a terminal, lines otherwise).
        const r = await settleWorkflow(follow<EvaluationResult>(client, workflowId), 'evaluation', url);
        if (r === undefined) return;
        if (opts.json) printJson(r);
        else process.stdout.write(`${formatEvaluation(r)}\nTemporal UI: ${url}\n`);
      } finally {
        await stopLocalWorkers(workers);
        await connection.close();
      }
    });
}
