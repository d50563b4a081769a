/**
 * The few object operations the checkpoint store and the trainers need, on one bucket. The S3 implementation is
 * the real one; the classification run takes any implementation (in-memory in its unit test).
 */
import { DeleteObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { getBytes, putBytes } from '../../infra/s3';

export interface ObjectStorage {
  /** undefined when the object does not exist */
  getBytes(key: string): Promise<Uint8Array | undefined>;
  putBytes(key: string, bytes: Uint8Array, contentType?: string): Promise<void>;
  deleteKey(key: string): Promise<void>;
  /** Every key under `prefix`; without it the checkpoint store cannot recover from an unreadable latest.json. */
  listKeys?(prefix: string): Promise<string[]>;
}

/** {@link ObjectStorage} on an S3 bucket. */
export function s3ObjectStorage(s3: S3Client, bucket: string): Required<ObjectStorage> {
  return {
    getBytes: (key) => getBytes(s3, bucket, key),
    putBytes: (key, bytes, contentType) => putBytes(s3, bucket, key, bytes, contentType),
    async deleteKey(key) {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    async listKeys(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
        );
        for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
  };
}
