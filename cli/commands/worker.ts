/** `seerflow worker`: run workers for one or more task queues in this process. */
import type { Command } from 'commander';
import type { TaskQueueName } from '../../contracts/task-queues';
import { ALL_QUEUES, runWorkers } from '../../workers/run-workers';
import { CliError, EXIT } from '../exit-codes';

export function register(program: Command): void {
  program
    .command('worker')
    .description('run workers until SIGINT/SIGTERM (then drain with a grace period)')
    .option('--queues <list>', `comma-separated: ${ALL_QUEUES.join(',')} or all`, 'all')
    .option('--grace <seconds>', 'shutdown grace period for in-flight activities', '30')
    .action(async (opts: { queues: string; grace: string }) => {
      const queues =
        opts.queues === 'all' ? ALL_QUEUES : (opts.queues.split(',').map((q) => q.trim()) as TaskQueueName[]);
      const bad = queues.filter((q) => !ALL_QUEUES.includes(q));
      if (bad.length) throw new CliError(`unknown queue(s): ${bad.join(', ')}`, EXIT.usage);
      await runWorkers({
        queues,
        shutdownGraceSeconds: Number(opts.grace),
        log: (l) => process.stderr.write(`${l}\n`),
      });
    });
}
