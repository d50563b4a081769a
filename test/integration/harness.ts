/**
 * Shared setup for integration tests: the real local stack (started by `npm test` / `seerflow stack up`),
 * a fresh bucket per suite, and workers run in this process or as separate processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { createS3Client, ensureBucket, getText } from '../../infra/s3';
import { loadServiceSettings, PROJECT_ROOT, type ServiceSettings } from '../../infra/settings';
import { stackStatus } from '../../infra/stack';
import type { TaskQueueName } from '../../contracts/task-queues';
import { createWorkers } from '../../workers/run-workers';

export interface Stack {
  settings: ServiceSettings;
  s3: S3Client;
  client: Client;
  connection: Connection;
}

/** Fails loudly (never skips) when the stack is not up. */
export async function connectStack(): Promise<Stack> {
  const settings = loadServiceSettings();
  const status = await stackStatus(settings);
  const down = status.filter((s) => !s.healthy);
  if (down.length > 0) {
    throw new Error(
      `integration tests need the local stack; down: ${down.map((s) => `${s.name} (${s.address})`).join(', ')}. ` +
        'Run `seerflow stack up` or `npm test`, which starts it.',
    );
  }
  const connection = await Connection.connect({ address: settings.temporal.address });
  return {
    settings,
    s3: createS3Client(settings.s3),
    client: new Client({ connection, namespace: settings.temporal.namespace }),
    connection,
  };
}

export async function freshBucket(s3: S3Client, label: string): Promise<string> {
  const name = `t-${label}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`.toLowerCase();
  await ensureBucket(s3, name);
  return name;
}

/** Deletes a test bucket and everything in it (each bucket costs the local S3 server volumes). */
export async function dropBucket(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key as string }));
    if (keys.length === 0) break;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

export async function listAll(
  s3: S3Client,
  bucket: string,
  prefix: string,
): Promise<{ key: string; etag: string; size: number }[]> {
  const out: { key: string; etag: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const o of page.Contents ?? [])
      out.push({ key: o.Key as string, etag: (o.ETag ?? '').replace(/"/g, ''), size: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Every object under `prefix`, as relative path -> text (to compare two runs byte for byte). */
export async function readTree(s3: S3Client, bucket: string, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const o of await listAll(s3, bucket, prefix))
    out.set(o.key.slice(prefix.length), (await getText(s3, bucket, o.key)) ?? '');
  return out;
}

/** Runs in-process workers for the given queues while `fn` runs (with other service settings when given). */
export async function withWorkers<T>(
  stack: Stack,
  queues: TaskQueueName[],
  fn: () => Promise<T>,
  settings: ServiceSettings = stack.settings,
): Promise<T> {
  const { workers, connection, clientConnection } = await createWorkers({
    queues,
    settings,
    shutdownGraceSeconds: 5,
  });
  const runs = workers.map((w: Worker) => w.run());
  try {
    return await fn();
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(runs);
    await connection.close();
    await clientConnection.close();
  }
}

/** A worker in its own process (so a test can SIGKILL it). Needs the compiled `dist/`. */
export function spawnWorkerProcess(queue: TaskQueueName, logTo?: (chunk: string) => void): ChildProcess {
  const script = path.join(PROJECT_ROOT, 'dist', 'workers', `${queue}.js`);
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npx tsc\` (npm test builds it)`);
  const child = spawn(process.execPath, [script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  child.stdout?.on('data', (d: Buffer) => logTo?.(d.toString()));
  child.stderr?.on('data', (d: Buffer) => logTo?.(d.toString()));
  return child;
}

export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * A TCP proxy in front of the local S3 endpoint that a test can take down: while `down`, every open connection is
 * reset and new ones are closed at once, as when the network to S3 goes away.
 */
export async function s3Outage(endpoint: string): Promise<{
  url: string;
  down(): void;
  up(): void;
  close(): Promise<void>;
}> {
  const { createServer, connect } = await import('node:net');
  const target = new URL(endpoint);
  const open = new Set<import('node:net').Socket>();
  let isDown = false;
  const server = createServer((client) => {
    if (isDown) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    down: () => {
      isDown = true;
      for (const s of open) s.destroy();
    },
    up: () => {
      isDown = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        server.close(() => r());
      }),
  };
}
