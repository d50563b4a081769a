/** `seerflow status <workflowId>`: one progress snapshot from workflow queries. */
import type { Command } from 'commander';
import { connectClient, printJson } from '../common';
import { describeSnapshot, snapshot } from '../progress';

export function register(program: Command): void {
  program
    .command('status <workflowId>')
    .description('print the progress of a pipeline or stage workflow once')
    .option('--json', 'print the snapshot as JSON')
    .action(async (workflowId: string, opts: { json?: boolean }) => {
      const { client, connection } = await connectClient();
      try {
        const s = await snapshot(client, workflowId);
        if (opts.json) printJson({ workflowId, ...s });
        else process.stdout.write(`${workflowId} (${s.type}): ${describeSnapshot(s)}\n`);
      } finally {
        await connection.close();
      }
    });
}
