/** `seerflow stack up|down|status`: the local Temporal + S3 stack. */
import type { Command } from 'commander';
import { loadServiceSettings } from '../../infra/settings';
import { stackDown, stackStatus, stackUp, type ServiceStatus } from '../../infra/stack';
import { EXIT } from '../exit-codes';

function printStatus(statuses: ServiceStatus[], uiUrl: string): void {
  for (const s of statuses) {
    const pid = s.pid ? ` pid ${s.pid}` : '';
    process.stdout.write(
      `${s.name.padEnd(9)} ${s.healthy ? 'healthy' : 'down   '}  ${s.address}  (${s.state}${pid})\n`,
    );
  }
  if (statuses.find((s) => s.name === 'temporal')?.healthy) process.stdout.write(`Temporal UI: ${uiUrl}\n`);
}

export function register(program: Command): void {
  const stack = program.command('stack').description('manage the local stack (Temporal dev server + S3 server)');
  stack
    .command('up')
    .description('install what is missing, start what is not running, wait until healthy (idempotent)')
    .option('--json', 'print the status as JSON')
    .option('--timeout <seconds>', 'how long to wait for health', '120')
    .action(async (opts: { json?: boolean; timeout: string }) => {
      const settings = loadServiceSettings();
      const log = (l: string) => process.stderr.write(`${l}\n`);
      const statuses = await stackUp(settings, log, Number(opts.timeout) * 1000);
      if (opts.json)
        process.stdout.write(`${JSON.stringify({ services: statuses, temporalUi: settings.temporal.uiUrl })}\n`);
      else printStatus(statuses, settings.temporal.uiUrl);
    });
  stack
    .command('down')
    .description('stop the services this project started (never touches servers it did not start)')
    .action(async () => {
      const stopped = await stackDown(loadServiceSettings(), (l) => process.stderr.write(`${l}\n`));
      process.stdout.write(stopped.length ? `stopped: ${stopped.join(', ')}\n` : 'nothing of ours was running\n');
    });
  stack
    .command('status')
    .description('show whether Temporal and S3 are reachable; exit code 3 when one is down')
    .option('--json', 'print the status as JSON')
    .action(async (opts: { json?: boolean }) => {
      const settings = loadServiceSettings();
      const statuses = await stackStatus(settings);
      if (opts.json)
        process.stdout.write(`${JSON.stringify({ services: statuses, temporalUi: settings.temporal.uiUrl })}\n`);
      else printStatus(statuses, settings.temporal.uiUrl);
      if (statuses.some((s) => !s.healthy)) process.exitCode = EXIT.stackDown;
    });
}
