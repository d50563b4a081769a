/** S3 client construction and small helpers shared by activities, the seeder and tests. */
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { ServiceSettings } from './settings';

export function createS3Client(settings: ServiceSettings['s3'], maxAttempts = 8): S3Client {
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    // 'adaptive' adds client-side rate limiting on throttling errors (SlowDown / 503) on top of backoff.
    retryMode: 'adaptive',
    maxAttempts,
  });
}

export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const status = (err as S3ServiceException).$metadata?.httpStatusCode;
    if (status !== 404 && (err as Error).name !== 'NotFound' && (err as Error).name !== 'NoSuchBucket') throw err;
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (e) {
      const name = (e as Error).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw e;
    }
  }
}

export async function putText(
  s3: S3Client,
  bucket: string,
  key: string,
  body: string,
  contentType = 'text/plain',
): Promise<void> {
  await putBytes(s3, bucket, key, Buffer.from(body, 'utf8'), contentType);
}

export async function putBytes(
  s3: S3Client,
  bucket: string,
  key: string,
  bytes: Uint8Array,
  contentType = 'application/octet-stream',
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: bytes,
      ContentLength: bytes.length,
      ContentType: contentType,
    }),
  );
}

export async function putJson(s3: S3Client, bucket: string, key: string, value: unknown): Promise<void> {
  await putText(s3, bucket, key, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
}

/** Returns undefined when the object does not exist. */
export async function getBytes(
  s3: S3Client,
  bucket: string,
  key: string,
  range?: string,
): Promise<Uint8Array | undefined> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: range } : {}) }));
    return res.Body ? await res.Body.transformToByteArray() : new Uint8Array();
  } catch (err) {
    if (err instanceof NoSuchKey || (err as S3ServiceException).$metadata?.httpStatusCode === 404) return undefined;
    throw err;
  }
}

export async function getText(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  const bytes = await getBytes(s3, bucket, key);
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
}

export async function getJson<T>(s3: S3Client, bucket: string, key: string): Promise<T | undefined> {
  const text = await getText(s3, bucket, key);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}
