/**
 * The one place where a training child reads its environment: the socket path, S3 and the debug switch. S3
 * settings come from the `run` command when the parent sent them (the worker's own settings, or a test's), else
 * from the process environment (infra/settings.ts), which the child inherits from its worker.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../infra/s3';
import { loadServiceSettings } from '../../infra/settings';
import { TRAINER_SOCKET_ENV, type TrainerSettings } from './protocol';

/** What a training child gets besides its job. */
export interface ChildEnv {
  settings: TrainerSettings;
  s3: S3Client;
  /** SEERFLOW_TRAINER_VERBOSE=1: one line per step on stderr (debugging, crash tests). */
  verbose: boolean;
}

/** The socket the parent listens on; undefined when the process was not started by a supervisor. */
export function trainerSocketPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[TRAINER_SOCKET_ENV] || undefined;
}

/** The environment of one run: `sent` (the run command's settings) wins over the process environment. */
export function childEnv(sent: TrainerSettings | undefined, env: NodeJS.ProcessEnv = process.env): ChildEnv {
  const settings = sent ?? { s3: loadServiceSettings(env).s3 };
  return { settings, s3: createS3Client(settings.s3), verbose: env.SEERFLOW_TRAINER_VERBOSE === '1' };
}
