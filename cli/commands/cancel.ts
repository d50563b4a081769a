/** `seerflow cancel <workflowId>`: request cancellation (stages checkpoint before they stop). */
import type { Command } from 'commander';
import { connectClient } from '../common';

export function register(program: Command): void {
  program
    .command('cancel <workflowId>')
    .description('request cancellation of a pipeline or stage workflow')
    .action(async (workflowId: string) => {
      const { client, connection } = await connectClient();
      try {
        await client.workflow.getHandle(workflowId).cancel();
        process.stdout.write(`cancellation requested for ${workflowId}\n`);
      } finally {
        await connection.close();
      }
    });
}
