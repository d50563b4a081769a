/**
 * `seerflow detection`: the detection benchmark (issue #6 §2) outside the pipeline.
 *   build   write the copy-paste dataset (Fashion-MNIST items on real photos, exact boxes) to S3
 *   run     train + COCO-evaluate detectors (pretrained and/or scratch trunk, several seeds), print AP mean ± std
 * `run` forks the same trainer process as the runDetection activity, so numbers match the pipeline's. Both build
 * the same `DetectionSpec` as `eval.detection` (config/schema.ts): a flag overrides the schema default.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import * as z from 'zod';
import { runDetectionProcess } from '../../activities/detection/activities';
import { DetectionSpecSchema, type DetectionSpec } from '../../config/schema';
import { detectionDatasetOf, type DetectionJob, type DetectionRunResult } from '../../contracts/detection';
import type { Initialisation } from '../../contracts/evaluate';
import { pretrainKeys, type CheckpointPointer } from '../../contracts/pretrain';
import {
  datasetVersion,
  detectionKeys,
  writeDetectionDataset,
  type DetectionManifest,
} from '../../datasets/detection/build-dataset';
import { createS3Client, ensureBucket, getBytes, getJson } from '../../infra/s3';
import { loadServiceSettings } from '../../infra/settings';
import { summarizeDetection } from '../../ml/stats';
import { addConfigOptions, configFromOptions, printJson, type ConfigCliOptions } from '../common';
import { formatDetectionSummary } from '../eval-table';
import { CliError, EXIT } from '../exit-codes';

function intArg(min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    return n;
  };
}

function seedList(raw: string): number[] {
  const out = raw.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 0))
    throw new InvalidArgumentError('expected seeds like 0,1,2');
  return out;
}

/** The schema's defaults (config/schema.ts), which the flags' help shows. */
const DEFAULTS: DetectionSpec = DetectionSpecSchema.parse({});

/** The spec of the flags given: each overrides the schema default; zod validates it as it does a config. */
function specFrom(given: z.input<typeof DetectionSpecSchema>): DetectionSpec {
  const r = DetectionSpecSchema.safeParse(given);
  if (!r.success) throw new CliError(`invalid detection options:\n${z.prettifyError(r.error)}`, EXIT.usage);
  return r.data;
}

interface BuildOptions {
  images?: number;
  testImages?: number;
  seed?: number;
  size?: number;
  photos?: number;
  bucket: string;
  json?: boolean;
}

interface RunOptions extends ConfigCliOptions {
  dataset?: string;
  bucket: string;
  init: 'pretrained' | 'scratch' | 'both';
  seeds: number[];
  epochs?: number;
  checkpointRun?: string;
  checkpointKey?: string;
  batchSize?: number;
  lr?: string;
  out?: string;
  json?: boolean;
}

async function resolveCheckpoint(
  s3: ReturnType<typeof createS3Client>,
  bucket: string,
  opts: RunOptions,
): Promise<CheckpointPointer> {
  if (opts.checkpointKey) {
    const bytes = await getBytes(s3, bucket, opts.checkpointKey);
    if (!bytes) throw new CliError(`checkpoint s3://${bucket}/${opts.checkpointKey} not found`);
    return {
      key: opts.checkpointKey,
      step: 0,
      cursor: { epoch: 0, position: 0 },
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.length,
      loss: Number.NaN,
      backend: 'unknown',
    };
  }
  const run = opts.checkpointRun ?? 'det-src';
  const latest = await getJson<{ history: CheckpointPointer[] }>(s3, bucket, pretrainKeys.latest(run));
  const p = latest?.history[0];
  if (!p)
    throw new CliError(
      `no SwAV checkpoint at s3://${bucket}/${pretrainKeys.latest(run)}; run \`seerflow run --preset tiny --name ${run}\` first`,
    );
  return p;
}

function pct(v: number | undefined): string {
  return v === undefined || v < 0 ? '  -  ' : (100 * v).toFixed(1).padStart(5);
}

export function register(program: Command): void {
  const det = program
    .command('detection')
    .description('detection benchmark: copy-paste dataset, detector training, COCO AP');

  det
    .command('build')
    .description(
      'write the detection dataset (Fashion-MNIST items on real photos, exact boxes) to s3://<bucket>/detection/<version>/',
    )
    .option('--images <n>', `training images (default: ${DEFAULTS.images})`, intArg(1, 1_000_000))
    .option('--test-images <n>', 'test images (default: images / 4, rounded, at least 1)', intArg(1, 1_000_000))
    .option('--seed <n>', `seed of every random choice (default: ${DEFAULTS.seed})`, intArg(0, 2 ** 31 - 1))
    .option('--size <px>', `image side (default: ${DEFAULTS.size})`, intArg(16, 1024))
    .option('--photos <n>', 'use only the first n allow-listed photos as backgrounds (default: all)', intArg(1, 1000))
    .option('--bucket <name>', 'bucket', 'seerflow')
    .option('--json', 'print the manifest as JSON')
    .action(async (o: BuildOptions) => {
      const spec = specFrom({
        images: o.images,
        testImages: o.testImages,
        seed: o.seed,
        size: o.size,
        photos: o.photos,
      });
      const s3 = createS3Client(loadServiceSettings().s3);
      await ensureBucket(s3, o.bucket);
      const t0 = Date.now();
      const r = await writeDetectionDataset(s3, o.bucket, detectionDatasetOf(spec), {
        onProgress: (done, total) => {
          if (done % 200 === 0 || done === total) process.stderr.write(`  ${done}/${total} images\n`);
        },
      });
      if (o.json) return printJson(r.manifest);
      const m = r.manifest;
      process.stdout.write(
        `detection dataset s3://${o.bucket}/${m.prefix}${r.cached ? ' (already complete, nothing written)' : ''}\n` +
          `  train  ${m.train.images} images, ${m.train.annotations} boxes\n` +
          `  test   ${m.test.images} images, ${m.test.annotations} boxes (unseen Fashion-MNIST t10k items)\n` +
          `  ${m.options.size}x${m.options.size} px, ${m.backgrounds.length} background photos, ${((Date.now() - t0) / 1000).toFixed(1)} s\n` +
          `  use: seerflow detection run --dataset ${m.prefix}\n`,
      );
    });

  addConfigOptions(
    det
      .command('run')
      .description(
        'train + evaluate detectors on a dataset (pretrained trunk from a SwAV run and/or scratch), print COCO AP over seeds',
      ),
  )
    .option('--dataset <prefix>', 'dataset prefix, e.g. detection/<version>/ (default: the `build` defaults)')
    .option('--bucket <name>', 'bucket', 'seerflow')
    .option('--init <which>', 'pretrained | scratch | both', 'both')
    .option('--seeds <list>', 'seeds, comma-separated', seedList, [0, 1, 2])
    .option('--epochs <n>', `training epochs (default: ${DEFAULTS.epochs})`, intArg(1, 10_000))
    .option('--checkpoint-run <name>', 'SwAV run whose newest checkpoint initialises the trunk (default det-src)')
    .option('--checkpoint-key <key>', 'or an explicit SwAV state key')
    .option('--batch-size <n>', `images per step (default: ${DEFAULTS.train.batchSize})`, intArg(2, 4096))
    .option('--lr <x>', `AdamW peak learning rate (default: ${DEFAULTS.train.lr})`)
    .option('--out <file>', 'also write all runs and the summary as JSON')
    .option('--json', 'print runs and summary as JSON')
    .action(async (o: RunOptions) => {
      if (!['pretrained', 'scratch', 'both'].includes(o.init))
        throw new CliError('--init must be pretrained, scratch or both', EXIT.usage);
      const cfg = configFromOptions(o);
      const lr = o.lr !== undefined ? Number(o.lr) : undefined;
      if (lr !== undefined && !(lr > 0)) throw new CliError('--lr must be a positive number', EXIT.usage);
      const spec = specFrom({ epochs: o.epochs, train: { batchSize: o.batchSize, lr } });
      const s3 = createS3Client(loadServiceSettings().s3);
      const prefix = o.dataset ?? detectionKeys.prefix(datasetVersion(detectionDatasetOf(DEFAULTS)));
      if (!(await getJson<DetectionManifest>(s3, o.bucket, detectionKeys.manifest(prefix)))) {
        throw new CliError(
          `no detection dataset at s3://${o.bucket}/${prefix}; run \`seerflow detection build\` first`,
        );
      }
      const inits: Initialisation[] = o.init === 'both' ? ['pretrained', 'scratch'] : [o.init];
      const checkpoint = inits.includes('pretrained') ? await resolveCheckpoint(s3, o.bucket, o) : undefined;
      const runs: DetectionRunResult[] = [];
      for (const seed of o.seeds) {
        for (const init of inits) {
          const job: DetectionJob = {
            bucket: o.bucket,
            regnet: cfg.model.regnet,
            init,
            seed,
            epochs: spec.epochs,
            train: spec.train,
            datasetPrefix: prefix,
            ...(init === 'pretrained' && checkpoint ? { checkpoint } : {}),
          };
          let lastEpoch = -1;
          const r = await runDetectionProcess(job, {
            onMessage: (m) => {
              if (m.type === 'checkpoint' && m.pointer.epoch !== lastEpoch) {
                lastEpoch = m.pointer.epoch;
                process.stderr.write(
                  `  ${init} seed ${seed}: epoch ${m.pointer.epoch}/${spec.epochs} loss ${m.pointer.loss.toFixed(3)}\n`,
                );
              }
            },
          });
          runs.push(r);
          process.stderr.write(
            `${init.padEnd(10)} seed ${seed}: AP ${pct(r.stats[0])} AP50 ${pct(r.stats[1])} AP75 ${pct(r.stats[2])}  (${r.computeSeconds}s${r.cached ? ', cached' : ''})\n`,
          );
        }
      }
      const summary = summarizeDetection(runs);
      const doc = {
        dataset: prefix,
        checkpointKey: checkpoint?.key ?? null,
        epochs: spec.epochs,
        regnet: cfg.model.regnet,
        runs,
        summary,
      };
      if (o.out) writeFileSync(o.out, `${JSON.stringify(doc, null, 2)}\n`);
      if (o.json) return printJson(doc);
      process.stdout.write(
        `detection ${prefix} (${spec.epochs} epochs, seeds ${o.seeds.join(',')})\n${formatDetectionSummary(summary)}\n`,
      );
    });
}
