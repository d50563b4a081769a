/** Shared CLI plumbing: config options, Temporal client connection with a clear error, local workers. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load';
import type { SeerConfig } from '../config/schema';
import { loadServiceSettings, PROJECT_ROOT, type ServiceSettings } from '../infra/settings';
import { CliError, EXIT } from './exit-codes';

export interface ConfigCliOptions {
  preset?: string;
  config?: string;
  set?: string[];
  name?: string;
}

export function addConfigOptions(cmd: Command): Command {
  return cmd
    .option('--preset <name>', 'start from a preset: tiny | seer-256gf', 'tiny')
    .option('--config <file>', 'JSON config file merged over the preset')
    .option('--set <key=value>', 'override one field, e.g. --set train.epochs=3 (repeatable)', collect, [])
    .option('--name <run>', 'run name (same as --set run.name=...)');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function configFromOptions(opts: ConfigCliOptions): Readonly<SeerConfig> {
  try {
    const set = [...(opts.set ?? [])];
    if (opts.name) set.push(`run.name=${opts.name}`);
    return loadConfig({
      ...(opts.preset ? { preset: opts.preset } : {}),
      ...(opts.config ? { file: opts.config } : {}),
      set,
    });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
}

export async function connectClient(
  settings: ServiceSettings = loadServiceSettings(),
): Promise<{ client: Client; connection: Connection }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: settings.temporal.address, connectTimeout: '5s' });
  } catch (err) {
    throw new CliError(
      `cannot reach Temporal at ${settings.temporal.address} (${(err as Error).message}); start the local stack with \`seerflow stack up\``,
      EXIT.stackDown,
    );
  }
  return { client: new Client({ connection, namespace: settings.temporal.namespace }), connection };
}

/**
 * Has anything polled the orchestrator queue within one long-poll interval (about a minute)? No means no live
 * worker; yes can also be a worker that stopped less than a minute ago, which the server still lists, so a
 * workflow the CLI starts is watched until a worker takes it (cli/launch.ts).
 */
export async function orchestratorHasPollers(client: Client, settings: ServiceSettings): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: settings.temporal.namespace,
    taskQueue: { name: settings.taskQueues.orchestrator },
    taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
  });
  const recent = Date.now() - 70_000;
  return (res.pollers ?? []).some((p) => {
    const t = p.lastAccessTime;
    const ms = t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;
    return ms > recent;
  });
}

/** Starts all workers in a child process (attached: it ends with this command). */
export function spawnLocalWorkers(logFile: string): ChildProcess {
  const script = path.join(PROJECT_ROOT, 'dist', 'workers', 'all.js');
  const { openSync, mkdirSync } = require('node:fs') as typeof import('node:fs');
  mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  return spawn(process.execPath, [script], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Stops the workers `spawnLocalWorkers` started (SIGTERM: running trainers checkpoint first) and waits for them. */
export async function stopLocalWorkers(workers: ChildProcess | undefined): Promise<void> {
  if (!workers || workers.exitCode !== null) return;
  const exited = new Promise((r) => workers.once('exit', r));
  workers.kill('SIGTERM');
  await exited;
}

/**
 * Awaits a followed workflow. A failed workflow prints `<what> failed: <innermost cause> [<error type>]` and the
 * UI link, sets the failure exit code and resolves to undefined (workflow -> child -> activity ->
 * ApplicationFailure: the innermost message is the useful one); other errors propagate.
 */
export async function settleWorkflow<T>(result: Promise<T>, what: string, url: string): Promise<T | undefined> {
  try {
    return await result;
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    let root = err.cause as (Error & { type?: string; cause?: unknown }) | undefined;
    while (root?.cause instanceof Error) root = root.cause as Error & { type?: string; cause?: unknown };
    process.stderr.write(
      `${what} failed: ${root?.message ?? err.message}${root?.type ? ` [${root.type}]` : ''}\nsee ${url}\n`,
    );
    process.exitCode = EXIT.failure;
    return undefined;
  }
}
