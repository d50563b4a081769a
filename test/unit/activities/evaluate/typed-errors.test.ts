/**
 * Errors outside training are typed where they arise (SeerflowError) and reach Temporal through the one
 * conversion: a missing labels file is non-retryable DatasetMissing, a malformed label line or option is
 * InvalidInput, and a transient S3 fault stays retryable. A fake S3 client stands in for the store (no stack).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createEvaluateActivities } from '../../../../activities/evaluate/activities';
import { parseLabels, readLabels } from '../../../../activities/evaluate/eval-data';
import { classBalancedSubset } from '../../../../activities/evaluate/subsets';
import { withFailureConversion } from '../../../../activities/shared/failure';
import { ErrorType, SeerflowError } from '../../../../contracts/errors';

/** An S3 client whose every request fails with `err`. */
function failingS3(err: Error): S3Client {
  return { send: async () => Promise.reject(err) } as unknown as S3Client;
}
const notFound = () => Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('labels', () => {
  it('a malformed line is InvalidInput naming the line', () => {
    for (const bad of ['{"key": 3, "index": 0, "label": 1}', 'not json', 'null']) {
      let err: unknown;
      try {
        parseLabels(`{"key":"a","index":0,"label":1}\n${bad}\n`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SeerflowError);
      expect((err as SeerflowError).type).toBe(ErrorType.InvalidInput);
      expect((err as SeerflowError).message).toContain(bad);
    }
    expect(parseLabels('{"key":"a","index":0,"label":1}\n\n')).toEqual([{ key: 'a', index: 0, label: 1 }]);
  });

  it('a missing labels file is DatasetMissing', async () => {
    await expect(readLabels(failingS3(notFound()), 'b', 'labels/x.jsonl')).rejects.toMatchObject({
      type: ErrorType.DatasetMissing,
      message: expect.stringMatching(/seerflow seed/),
    });
  });

  it('a label fraction outside (0, 1] is InvalidInput', () => {
    expect(() => classBalancedSubset([], 0, 0, 'sha')).toThrow(SeerflowError);
    expect(() => classBalancedSubset([], 1.5, 0, 'sha')).toThrow(/fraction must be in/);
  });
});

describe('evaluation I/O activities through the failure conversion', () => {
  const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A) =>
    new MockActivityEnvironment().run(fn, ...args);

  it('prepareEvalData and buildLabelSubset on an unseeded bucket: non-retryable DatasetMissing', async () => {
    const acts = withFailureConversion(createEvaluateActivities({ s3: failingS3(notFound()) }));
    const prepared = await failureOf(run(acts.prepareEvalData, { bucket: 'b', shortSide: 40, jpegQuality: 90 }));
    expect([prepared.type, prepared.nonRetryable]).toEqual([ErrorType.DatasetMissing, true]);
    const subset = await failureOf(run(acts.buildLabelSubset, { bucket: 'b', fraction: 0.1, seed: 0 }));
    expect([subset.type, subset.nonRetryable]).toEqual([ErrorType.DatasetMissing, true]);
  });

  it('a transient S3 fault is left to the retry policy (never typed as missing data)', async () => {
    const flaky = withFailureConversion(createEvaluateActivities({ s3: failingS3(new Error('socket hang up')) }));
    for (const err of [
      await run(flaky.buildLabelSubset, { bucket: 'b', fraction: 0.1, seed: 0 }).catch((e: unknown) => e),
      await run(flaky.prepareEvalData, { bucket: 'b', shortSide: 40, jpegQuality: 90 }).catch((e: unknown) => e),
    ]) {
      expect(err).not.toBeInstanceOf(ApplicationFailure);
      expect((err as Error).message).toBe('socket hang up');
    }
  });
});
