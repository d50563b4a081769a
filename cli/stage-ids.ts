/** Maps a pipeline workflow ID to the ID of one of its stage children (signals go to the stage). */
import type { Client } from '@temporalio/client';
import { CliError, EXIT } from './exit-codes';

export async function pretrainWorkflowId(client: Client, workflowId: string): Promise<string> {
  let desc;
  try {
    desc = await client.workflow.getHandle(workflowId).describe();
  } catch {
    throw new CliError(`no workflow ${workflowId}`, EXIT.usage);
  }
  if (desc.type === 'pretrainWorkflow') return workflowId;
  if (desc.type === 'seerPipelineWorkflow') return `${workflowId}/pretrain`;
  throw new CliError(
    `${workflowId} is a ${desc.type}; pause and resume apply to a pipeline or a pretrain workflow`,
    EXIT.usage,
  );
}
