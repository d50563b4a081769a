#!/usr/bin/env node
/**
 * `seerflow` command line. Each command lives in cli/commands/<name>.ts and exports `register(program)`.
 * Exit codes: 0 ok, 1 failure, 2 usage or invalid config, 3 stack not reachable.
 */
import { Command, CommanderError } from 'commander';
import path from 'node:path';
import { PROJECT_ROOT } from '../infra/settings';
import { EXIT } from './exit-codes';

const COMMAND_MODULES = [
  'stack',
  'seed',
  'ingest',
  'run',
  'status',
  'pause',
  'resume',
  'cancel',
  'schedule',
  'config',
  'plan',
  'worker',
  'report',
  'eval',
  'detection',
];

export async function main(argv: string[]): Promise<number> {
  const program = new Command('seerflow')
    .description('Durable SEER pipeline on Temporal: S3 ingestion, SwAV multi-crop, RegNetY pretraining, evaluation')
    .version((require(path.join(PROJECT_ROOT, 'package.json')) as { version: string }).version)
    .showHelpAfterError()
    .exitOverride();
  for (const name of COMMAND_MODULES) {
    let mod: { register?: (p: Command) => void };
    try {
      mod = require(`./commands/${name}`) as typeof mod;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String(err).includes(`commands/${name}`))
        continue;
      throw err;
    }
    mod.register?.(program);
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    throw err;
  }
}

if (require.main === module) {
  main(process.argv).then(
    (code) => process.exit(code),
    (err: unknown) => {
      const e = err as Error & { exitCode?: number };
      process.stderr.write(`seerflow: ${e.message ?? String(err)}\n`);
      if (process.env.SEERFLOW_DEBUG) process.stderr.write(`${e.stack}\n`);
      process.exit(e.exitCode ?? EXIT.failure);
    },
  );
}
