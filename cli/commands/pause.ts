/** `seerflow pause <workflowId>`: stop pretraining at once (the running segment checkpoints first), until `seerflow resume`. */
import type { Command } from 'commander';
import { pauseSignal } from '../../contracts/pretrain';
import { connectClient } from '../common';
import { pretrainWorkflowId } from '../stage-ids';

export function register(program: Command): void {
  program
    .command('pause <workflowId>')
    .description('pause pretraining of a pipeline (seerflow/<run>) or pretrain workflow; it checkpoints first')
    .action(async (workflowId: string) => {
      const { client, connection } = await connectClient();
      try {
        const target = await pretrainWorkflowId(client, workflowId);
        await client.workflow.getHandle(target).signal(pauseSignal);
        process.stdout.write(`pause sent to ${target}\n`);
      } finally {
        await connection.close();
      }
    });
}
