/**
 * `seerflow pause|resume|cancel <workflowId>` share one shape: connect, find the workflow the action applies to
 * (pause and resume go to the pretrain stage of a pipeline), act on it, say what was sent where.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import type { Command } from 'commander';
import { connectClient } from './common';
import { CliError, EXIT } from './exit-codes';

/** The pretrain workflow of a pipeline workflow ID (signals go to the stage), or the ID itself when it is one. */
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

export interface WorkflowControl {
  /** commander's `name <workflowId>` */
  command: string;
  description: string;
  /** The workflow the action applies to; the given one when absent. */
  target?: (client: Client, workflowId: string) => Promise<string>;
  act: (handle: WorkflowHandle) => Promise<unknown>;
  /** The line printed after `act`, e.g. `pause sent to <target>`. */
  done: (target: string) => string;
}

export function registerWorkflowControl(program: Command, control: WorkflowControl): void {
  program
    .command(control.command)
    .description(control.description)
    .action(async (workflowId: string) => {
      const { client, connection } = await connectClient();
      try {
        const target = control.target ? await control.target(client, workflowId) : workflowId;
        await control.act(client.workflow.getHandle(target));
        process.stdout.write(`${control.done(target)}\n`);
      } finally {
        await connection.close();
      }
    });
}

/** `seerflow pause|resume`: a signal to the pretrain stage of a pipeline (or to a pretrain workflow). */
export function registerPretrainSignal(
  program: Command,
  verb: 'pause' | 'resume',
  signal: SignalDefinition,
  description: string,
): void {
  registerWorkflowControl(program, {
    command: `${verb} <workflowId>`,
    description,
    target: pretrainWorkflowId,
    act: (handle) => handle.signal(signal),
    done: (target) => `${verb} sent to ${target}`,
  });
}
