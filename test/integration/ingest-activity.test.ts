/**
 * The ingestPartition activity under MockActivityEnvironment, against the real local S3: resume from the
 * heartbeat pointer after an interrupted attempt, cancellation, and typed non-retryable failures.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import sharp from 'sharp';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createIngestActivities, ingestFingerprint, type PartitionProgress } from '../../activities/ingest/activities';
import { ingestRoot } from '../../activities/ingest/layout';
import { IngestSchema } from '../../config/schema';
import type { PartitionInput, PartitionResult } from '../../contracts/ingest';
import { connectStack, dropBucket, freshBucket, readTree, type Stack } from './harness';

let stack: Stack;
let bucket: string;
const OBJECTS = 60;

function partitionInput(runName: string, over: Partial<PartitionInput> = {}): PartitionInput {
  const config = IngestSchema.parse({ bucket, prefixes: ['data/'], manifestShardSize: 10, validateConcurrency: 4 });
  return {
    bucket,
    runName,
    outputRoot: ingestRoot(config.outputPrefix, runName),
    partition: 0,
    range: { prefix: 'data/' },
    fingerprint: ingestFingerprint(config),
    config,
    ...over,
  };
}

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'ingest-activity');
  const png = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#884422' } })
    .png()
    .toBuffer();
  for (let i = 0; i < OBJECTS; i++) {
    const body = i === 17 ? Buffer.from('definitely not a png') : png;
    await stack.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: `data/${String(i).padStart(3, '0')}.png`, Body: body }),
    );
  }
}, 120_000);

afterAll(async () => {
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

describe('ingestPartition activity', () => {
  it('heartbeats a resume pointer per chunk and, resumed from it, finishes with identical shards', async () => {
    const activities = createIngestActivities({ s3: stack.s3 });
    // Reference: one uninterrupted attempt.
    const ref = (await new MockActivityEnvironment().run(
      activities.ingestPartition,
      partitionInput('reference'),
    )) as PartitionResult;
    expect(ref).toMatchObject({ listed: OBJECTS, accepted: OBJECTS - 1, quarantined: 1, cached: false });

    // Interrupted attempt: cancel right after the third chunk was committed, keep its last heartbeat.
    const first = new MockActivityEnvironment();
    let committed: PartitionProgress | undefined;
    first.on('heartbeat', (d: unknown) => {
      const p = d as PartitionProgress;
      if (p.chunk === 3 && !committed) {
        committed = structuredClone(p);
        first.cancel('CANCELLED');
      }
    });
    await expect(first.run(activities.ingestPartition, partitionInput('resumed'))).rejects.toBeInstanceOf(
      CancelledFailure,
    );
    expect(committed?.resumeAfter).toBe('data/029.png');
    expect(committed?.totals.listed).toBe(30);

    // Retry: a fresh attempt that sees the heartbeat details, as Temporal passes them on retry.
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: committed });
    const chunksSeen: number[] = [];
    retry.on('heartbeat', (d: unknown) => chunksSeen.push((d as PartitionProgress).chunk));
    const resumed = (await retry.run(activities.ingestPartition, partitionInput('resumed'))) as PartitionResult;
    expect(Math.min(...chunksSeen)).toBeGreaterThanOrEqual(3); // chunks 0..2 were not redone
    expect({ ...resumed, summaryKey: '' }).toEqual({ ...ref, summaryKey: '' });
    const a = await readTree(stack.s3, bucket, 'runs/reference/ingest/');
    const b = await readTree(stack.s3, bucket, 'runs/resumed/ingest/');
    const strip = (m: Map<string, string>) =>
      new Map(
        [...m].map(([k, v]) => [k, v.replaceAll('runs/reference/', 'runs/X/').replaceAll('runs/resumed/', 'runs/X/')]),
      );
    expect(strip(b)).toEqual(strip(a));
  });

  it('returns the finished summary without listing again', async () => {
    const env = new MockActivityEnvironment();
    let beats = 0;
    env.on('heartbeat', () => beats++);
    const r = (await env.run(
      createIngestActivities({ s3: stack.s3 }).ingestPartition,
      partitionInput('reference'),
    )) as PartitionResult;
    expect(r.cached).toBe(true);
    expect(beats).toBe(0);
  });

  it('stops promptly when cancelled', async () => {
    const env = new MockActivityEnvironment();
    env.on('heartbeat', () => env.cancel('CANCELLED'));
    await expect(
      env.run(createIngestActivities({ s3: stack.s3 }).ingestPartition, partitionInput('cancelled')),
    ).rejects.toBeInstanceOf(CancelledFailure);
  });

  it('turns a missing bucket into a non-retryable BucketMissing failure', async () => {
    const env = new MockActivityEnvironment();
    const input = partitionInput('missing', { bucket: `${bucket}-nope` });
    const err = await env.run(createIngestActivities({ s3: stack.s3 }).ingestPartition, input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('BucketMissing');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
  });

  it('rejects overlapping prefixes as InvalidConfig when planning', async () => {
    const env = new MockActivityEnvironment();
    const config = IngestSchema.parse({ bucket, prefixes: ['data/', 'data/0'] });
    const err = await env
      .run(createIngestActivities({ s3: stack.s3 }).planIngestPartitions, { runName: 'x', config })
      .catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe('InvalidConfig');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
  });
});
