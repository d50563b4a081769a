/** `seerflow ingest`: run only the ingest stage (useful for a corpus check or a benchmark). */
import type { Command } from 'commander';
import { configDigest } from '../../config/digest';
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
  stopLocalWorkers,
  type ConfigCliOptions,
} from '../common';
import { ensureWorkers, startOrAttach } from '../launch';
import { follow } from '../progress';
import { formatIngest, workflowUiUrl } from '../summary';

interface IngestOptions extends ConfigCliOptions {
  previous?: string;
  attach?: boolean;
  workers: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  addConfigOptions(
    program.command('ingest').description('list, validate and manifest the corpus (the first pipeline stage alone)'),
  )
    .option('--previous <summaryKey>', 'incremental: only objects new or changed since this ingest summary')
    .option('--attach', 'follow a running ingest of this name even when it runs with another config')
    .option('--no-workers', 'do not start local workers when no worker takes the ingest')
    .option('--json', 'print the result as JSON')
    .action(async (opts: IngestOptions) => {
      const cfg = configFromOptions({
        ...opts,
        set: [...(opts.set ?? []), ...(opts.previous ? [`ingest.previousManifest=${opts.previous}`] : [])],
      });
      const settings = loadServiceSettings();
      const { client, connection } = await connectClient(settings);
      let workers: Awaited<ReturnType<typeof ensureWorkers>>;
      try {
        const workflowId = workflowIds.standaloneIngest(cfg.run.name);
        const input: IngestInput = { runName: cfg.run.name, config: cfg.ingest };
        const launch = { workflowId, digest: configDigest(input), attach: opts.attach };
        await startOrAttach(client, settings, launch, (options) =>
          client.workflow.start(ingestWorkflow, {
            ...options,
            args: [input],
          }),
        );
        const url = workflowUiUrl(settings.temporal.uiUrl, settings.temporal.namespace, workflowId);
        process.stderr.write(`ingest ${workflowId}\nTemporal UI: ${url}\n`);
        workers = await ensureWorkers(client, settings, workflowId, opts.workers);
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
