/**
 * Random access to the canonical dataset: global sample index -> JPEG bytes, reading whole tar parts from S3
 * and keeping a few decoded parts in memory (training reads parts in a shuffled order, so a small LRU suffices
 * only with part-aware prefetch; here simplicity wins, parts are small).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { DatasetIndex } from '../../contracts/preprocess';
import { getBytes } from '../../infra/s3';
import { groupSamples, readTar } from '../preprocess/tar';

export class DatasetSource {
  private readonly starts: number[] = [];
  readonly size: number;
  private readonly cache = new Map<number, Promise<Uint8Array[]>>();

  constructor(
    private readonly s3: S3Client,
    private readonly dataset: DatasetIndex,
    private readonly maxCachedParts = 64,
  ) {
    let n = 0;
    for (const p of dataset.parts) {
      this.starts.push(n);
      n += p.count;
    }
    this.size = n;
  }

  /** Index of the part holding global sample `index` (binary search over part starts). */
  private partOf(index: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private loadPart(p: number): Promise<Uint8Array[]> {
    let entry = this.cache.get(p);
    if (entry) {
      this.cache.delete(p); // refresh LRU position
      this.cache.set(p, entry);
      return entry;
    }
    const part = this.dataset.parts[p];
    if (!part) throw new RangeError(`no part ${p}`);
    entry = getBytes(this.s3, this.dataset.bucket, part.key).then((bytes) => {
      if (!bytes) throw new Error(`tar part s3://${this.dataset.bucket}/${part.key} is missing`);
      const samples = [...groupSamples(readTar(bytes)).values()].map((s) => s.get('jpg') ?? new Uint8Array());
      if (samples.length !== part.count)
        throw new Error(`tar part ${part.key} holds ${samples.length} samples, index says ${part.count}`);
      return samples;
    });
    entry.catch(() => this.cache.delete(p));
    this.cache.set(p, entry);
    while (this.cache.size > this.maxCachedParts) this.cache.delete(this.cache.keys().next().value as number);
    return entry;
  }

  async get(index: number): Promise<Uint8Array> {
    if (!Number.isInteger(index) || index < 0 || index >= this.size)
      throw new RangeError(`sample ${index} outside [0, ${this.size})`);
    const p = this.partOf(index);
    const samples = await this.loadPart(p);
    return samples[index - (this.starts[p] as number)] as Uint8Array;
  }
}
