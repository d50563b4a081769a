/** `seerflow cancel <workflowId>`: request cancellation (stages checkpoint before they stop). */
import type { Command } from 'commander';
import { registerWorkflowControl } from '../workflow-control';

export function register(program: Command): void {
  registerWorkflowControl(program, {
    command: 'cancel <workflowId>',
    description: 'request cancellation of a pipeline or stage workflow',
    act: (handle) => handle.cancel(),
    done: (target) => `cancellation requested for ${target}`,
  });
}
