/** `seerflow status <workflowId>`: one progress snapshot from workflow queries, and any work no worker takes. */
import type { Command } from 'commander';
import { loadServiceSettings } from '../../infra/settings';
import { connectClient, printJson } from '../common';
import { PICKUP_GRACE_MS } from '../launch';
import { describeSnapshot, snapshot } from '../progress';
import { waitingNotice, waitingWork } from '../waiting-work';

export function register(program: Command): void {
  program
    .command('status <workflowId>')
    .description(
      'print the progress of a pipeline (seerflow/<run>), one of its stages, or a standalone ingest or evaluation ' +
        '(seerflow-ingest/<run>, seerflow-eval/<run>) once',
    )
    .option('--json', 'print the snapshot as JSON')
    .action(async (workflowId: string, opts: { json?: boolean }) => {
      const settings = loadServiceSettings();
      const { client, connection } = await connectClient(settings);
      try {
        const s = await snapshot(client, workflowId);
        const { waiting } = await waitingWork(client, workflowId, PICKUP_GRACE_MS);
        if (opts.json) printJson({ workflowId, ...s, waitingForWorkers: waiting });
        else {
          process.stdout.write(`${workflowId} (${s.type}): ${describeSnapshot(s)}\n`);
          if (waiting.length > 0) process.stdout.write(`${waitingNotice(waiting, settings.taskQueues)}\n`);
        }
      } finally {
        await connection.close();
      }
    });
}
