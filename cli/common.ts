/** Shared CLI plumbing: config options, Temporal client connection with a clear error, worker auto-start. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
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
    return loadConfig({ ...(opts.preset ? { preset: opts.preset } : {}), ...(opts.config ? { file: opts.config } : {}), set });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
}

export async function connectClient(settings: ServiceSettings = loadServiceSettings()): Promise<{ client: Client; connection: Connection }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: settings.temporal.address, connectTimeout: '5s' });
  } catch (err) {
    throw new CliError(
      `cannot reach Temporal at ${settings.temporal.address} (${(err as Error).message}); start the local stack with \`seerflow stack up\``,
      EXIT.stackDown
    );
  }
  return { client: new Client({ connection, namespace: settings.temporal.namespace }), connection };
}

/**
 * Are live workers polling the orchestrator queue? The server remembers pollers for minutes after they die, so
 * only pollers seen within one long-poll interval (about a minute) count.
 */
export async function orchestratorHasPollers(client: Client, namespace: string): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: loadServiceSettings().taskQueues.orchestrator },
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
  return spawn(process.execPath, [script], { stdio: ['ignore', fd, fd], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
