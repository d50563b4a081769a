/**
 * All activities, built from injected dependencies (S3 client, ...) so tests can pass their own.
 * Grouped by the task queue that runs them.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { createIngestActivities } from './ingest/activities';
import { createPrepareActivities } from './prepare/activities';

export interface ActivityDeps {
  s3: S3Client;
}

export function createActivities(deps: ActivityDeps) {
  const prepare = createPrepareActivities({ s3: deps.s3 });
  return {
    io: {
      ...createIngestActivities({ s3: deps.s3 }),
      planPrepare: prepare.planPrepare,
      readPrepareSlice: prepare.readPrepareSlice,
      finalizePrepare: prepare.finalizePrepare,
    },
    cpu: { canonicalizeShard: prepare.canonicalizeShard },
    gpu: {},
  };
}

export type Activities = ReturnType<typeof createActivities>;
