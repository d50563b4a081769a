/** `seerflow resume <workflowId>`: continue a paused run from its newest checkpoint. */
import type { Command } from 'commander';
import { resumeSignal } from '../../contracts/pretrain';
import { connectClient } from '../common';
import { pretrainWorkflowId } from '../stage-ids';

export function register(program: Command): void {
  program
    .command('resume <workflowId>')
    .description('resume paused pretraining from the newest checkpoint')
    .action(async (workflowId: string) => {
      const { client, connection } = await connectClient();
      try {
        const target = await pretrainWorkflowId(client, workflowId);
        await client.workflow.getHandle(target).signal(resumeSignal);
        process.stdout.write(`resume sent to ${target}\n`);
      } finally {
        await connection.close();
      }
    });
}
