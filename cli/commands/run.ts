/** `seerflow run`: validate the config, start the pipeline, show live progress, print the summary. */
import type { Command } from 'commander';
import { workflowIds, type PipelineInput, type PipelineResult } from '../../contracts/pipeline';
import { configDigest } from '../../config/digest';
import { SEER_RUN } from '../../contracts/search-attributes';
import { loadServiceSettings } from '../../infra/settings';
import { seerPipelineWorkflow } from '../../workflows';
import {
  addConfigOptions,
  configFromOptions,
  connectClient,
  printJson,
  settleWorkflow,
  stopLocalWorkers,
  type ConfigCliOptions,
} from '../common';
import { ensureWorkers, startOrAttach } from '../launch';
import { follow } from '../progress';
import { formatPipeline, workflowUiUrl } from '../summary';
import { reportAfterRun } from './report';

interface RunOptions extends ConfigCliOptions {
  detach?: boolean;
  attach?: boolean;
  workers: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  addConfigOptions(
    program.command('run').description('run the SEER pipeline (ingest -> preprocess -> pretrain -> evaluate)'),
  )
    .option('--detach', 'print the workflow ID and UI link, do not wait (and start no local workers)')
    .option('--attach', 'follow a running run of this name even when it runs with another config')
    .option('--no-workers', 'do not start local workers when no worker takes the run')
    .option('--json', 'print the result as JSON')
    .action(async (opts: RunOptions) => {
      const cfg = configFromOptions(opts);
      const settings = loadServiceSettings();
      const { client, connection } = await connectClient(settings);
      const workflowId = workflowIds.pipeline(cfg.run.name);
      let workers: Awaited<ReturnType<typeof ensureWorkers>>;
      try {
        const input: PipelineInput = { config: cfg };
        const launch = { workflowId, digest: configDigest(cfg), attach: opts.attach };
        await startOrAttach(client, settings, launch, (options) =>
          client.workflow.start(seerPipelineWorkflow, {
            ...options,
            args: [input],
            typedSearchAttributes: [{ key: SEER_RUN, value: cfg.run.name }],
          }),
        );
        const url = workflowUiUrl(settings.temporal.uiUrl, settings.temporal.namespace, workflowId);
        process.stderr.write(`pipeline ${workflowId} (preset ${cfg.preset})\nTemporal UI: ${url}\n`);
        // Local workers end with this command, so a detached run gets none (only the message when none takes it).
        workers = await ensureWorkers(client, settings, workflowId, opts.workers && !opts.detach);
        if (opts.detach) {
          if (opts.json) printJson({ workflowId, url });
          else process.stdout.write(`${workflowId}\n`);
          return;
        }
        const result = await settleWorkflow(follow<PipelineResult>(client, workflowId), 'pipeline', url);
        if (result === undefined) return;
        if (opts.json) printJson(result);
        else process.stdout.write(`${formatPipeline(result)}\nTemporal UI: ${url}\n`);
        await reportAfterRun(client, workflowId, { result, config: cfg }, settings, opts.json);
      } finally {
        await stopLocalWorkers(workers);
        await connection.close();
      }
    });
}
