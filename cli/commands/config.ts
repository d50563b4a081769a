/** `seerflow config show|validate`: the resolved run configuration. */
import type { Command } from 'commander';
import { addConfigOptions, configFromOptions, printJson, type ConfigCliOptions } from '../common';

export function register(program: Command): void {
  const cmd = program.command('config').description('print or validate the resolved run configuration');
  addConfigOptions(cmd.command('show').description('print the resolved config as JSON (what the workflow receives)'))
    .option(
      '--as-input',
      'wrap it as the pipeline workflow input ({"config": ...}), for `temporal workflow start --input-file`',
    )
    .action((opts: ConfigCliOptions & { asInput?: boolean }) => {
      const cfg = configFromOptions(opts);
      printJson(opts.asInput ? { config: cfg } : cfg);
    });
  addConfigOptions(cmd.command('validate').description('validate; exit code 2 and the bad fields when invalid')).action(
    (opts: ConfigCliOptions) => {
      const cfg = configFromOptions(opts);
      process.stdout.write(`config ok (preset ${cfg.preset}, run ${cfg.run.name})\n`);
    },
  );
}
