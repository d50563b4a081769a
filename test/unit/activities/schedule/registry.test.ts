/** The schedule activities' S3 errors: a missing bucket is typed at the source, anything else passes through. */
import type { S3Client } from '@aws-sdk/client-s3';
import { createScheduleActivities } from '../../../../activities/schedule/activities';
import { ErrorType } from '../../../../contracts/errors';

function failingS3(err: Error): S3Client {
  return { send: async () => Promise.reject(err) } as unknown as S3Client;
}
const noBucket = () => Object.assign(new Error('The specified bucket does not exist'), { name: 'NoSuchBucket' });

describe('schedule registry', () => {
  it('a missing bucket is BucketMissing; other S3 errors pass through unchanged', async () => {
    const last = (s3: S3Client, bucket: string) =>
      createScheduleActivities({ s3 }).lastSuccessfulRun({ bucket, scheduleId: 'nightly' });
    await expect(last(failingS3(noBucket()), 'gone')).rejects.toMatchObject({
      type: ErrorType.BucketMissing,
      message: expect.stringContaining('gone'),
    });
    await expect(last(failingS3(new Error('timeout')), 'b')).rejects.toThrow(/^timeout$/);
  });
});
