/**
 * Process-level settings (where Temporal and S3 are), read once from the environment by composition roots.
 * Separate from the run config: the same run config works against the local stack, MinIO or AWS S3.
 */
import path from 'node:path';
import { DEFAULT_TASK_QUEUE_BASE, taskQueues, type TaskQueues } from '../contracts/task-queues';

/** Repository root, both from sources (ts-jest) and from compiled `dist/`. */
export const PROJECT_ROOT = path.resolve(__dirname, path.basename(path.dirname(__dirname)) === 'dist' ? '../..' : '..');

export interface StackPorts {
  temporal: number;
  temporalUi: number;
  s3: number;
  weedMaster: number;
  weedVolume: number;
  weedFiler: number;
}

export interface ServiceSettings {
  temporal: { address: string; namespace: string; uiUrl: string };
  s3: {
    /** undefined means: let the AWS SDK resolve the endpoint (real AWS S3, or AWS_ENDPOINT_URL_S3). */
    endpoint: string | undefined;
    region: string;
    forcePathStyle: boolean;
    /** Explicit keys only for the local stack; otherwise the standard AWS credential chain is used. */
    credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  };
  /** Project-local folder for the stack's binaries, data, logs and pid files. */
  stateDir: string;
  /** Task queue names of this deployment (base from SEERFLOW_TASK_QUEUE_BASE). */
  taskQueues: TaskQueues;
  ports: StackPorts;
}

/** Keys of the local S3 server started by `seerflow stack up`; never used for any other endpoint. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'seerflow', secretAccessKey: 'seerflow-local-secret' } as const;

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name} must be a TCP port, got "${raw}"`);
  return n;
}

export function loadServiceSettings(env: NodeJS.ProcessEnv = process.env): ServiceSettings {
  const ports: StackPorts = {
    temporal: intEnv(env, 'SEERFLOW_TEMPORAL_PORT', 7233),
    temporalUi: intEnv(env, 'SEERFLOW_TEMPORAL_UI_PORT', 8233),
    s3: intEnv(env, 'SEERFLOW_S3_PORT', 8333),
    weedMaster: intEnv(env, 'SEERFLOW_WEED_MASTER_PORT', 9333),
    weedVolume: intEnv(env, 'SEERFLOW_WEED_VOLUME_PORT', 8080),
    weedFiler: intEnv(env, 'SEERFLOW_WEED_FILER_PORT', 8888),
  };
  const localEndpoint = `http://127.0.0.1:${ports.s3}`;
  const rawEndpoint =
    env.SEERFLOW_S3_ENDPOINT ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL ? 'default' : localEndpoint);
  const endpoint = rawEndpoint === 'default' || rawEndpoint === 'aws' ? undefined : rawEndpoint;
  const isLocal = endpoint === localEndpoint;
  const pathStyleEnv = env.SEERFLOW_S3_FORCE_PATH_STYLE;
  const forcePathStyle = pathStyleEnv ? /^(1|true|yes)$/i.test(pathStyleEnv) : endpoint !== undefined;
  const credentials = isLocal && !env.AWS_ACCESS_KEY_ID ? { ...LOCAL_S3_CREDENTIALS } : undefined;
  const address = env.TEMPORAL_ADDRESS ?? `127.0.0.1:${ports.temporal}`;
  return {
    temporal: {
      address,
      namespace: env.TEMPORAL_NAMESPACE ?? 'default',
      uiUrl: env.SEERFLOW_TEMPORAL_UI_URL ?? `http://127.0.0.1:${ports.temporalUi}`,
    },
    s3: { endpoint, region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1', forcePathStyle, credentials },
    stateDir: env.SEERFLOW_STATE_DIR ?? path.join(PROJECT_ROOT, '.seerflow'),
    ports,
    taskQueues: taskQueues(env.SEERFLOW_TASK_QUEUE_BASE || DEFAULT_TASK_QUEUE_BASE),
  };
}
