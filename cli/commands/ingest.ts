/** `seerflow ingest`: run only the ingest stage (useful for a corpus check or a benchmark). */
import type { Command } from 'commander';
import type { IngestInput, IngestResult } from '../../contracts/ingest';
import { workflowIds } from '../../contracts/pipeline';
import { loadServiceSettings } from '../../infra/settings';
import { ingestWorkflow } from '../../workflows';
import {
  addConfigOptions,
  configFromOptions,
  connectClient,
  printJson,
  settleWorkflow,
  startLocalWorkersIfNone,
  stopLocalWorkers,
  type ConfigCliOptions,
} from '../common';
import { follow } from '../progress';
import { formatIngest, workflowUiUrl } from '../summary';

export function register(program: Command): void {
  addConfigOptions(
    program.command('ingest').description('list, validate and manifest the corpus (the first pipeline stage alone)'),
  )
    .option('--previous <summaryKey>', 'incremental: only objects new or changed since this ingest summary')
    .option('--no-workers', 'do not start local workers when none are polling')
    .option('--json', 'print the result as JSON')
    .action(async (opts: ConfigCliOptions & { previous?: string; workers: boolean; json?: boolean }) => {
      const cfg = configFromOptions({
        ...opts,
        set: [...(opts.set ?? []), ...(opts.previous ? [`ingest.previousManifest=${opts.previous}`] : [])],
      });
      const settings = loadServiceSettings();
      const { client, connection } = await connectClient(settings);
      let workers: Awaited<ReturnType<typeof startLocalWorkersIfNone>>;
      try {
        workers = await startLocalWorkersIfNone(client, settings, opts.workers);
        const workflowId = workflowIds.stage(cfg.run.name, 'ingest');
        const input: IngestInput = { runName: cfg.run.name, config: cfg.ingest };
        await client.workflow.start(ingestWorkflow, {
          taskQueue: settings.taskQueues.orchestrator,
          workflowId,
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
        });
        const url = workflowUiUrl(settings.temporal.uiUrl, settings.temporal.namespace, workflowId);
        process.stderr.write(`ingest ${workflowId}\nTemporal UI: ${url}\n`);
        const result = await settleWorkflow(follow<IngestResult>(client, workflowId), 'ingest', url);
        if (result === undefined) return;
        if (opts.json) printJson(result);
        else process.stdout.write(`${formatIngest(result)}\n`);
      } finally {
        await stopLocalWorkers(workers);
        await connection.close();
      }
    });
}
