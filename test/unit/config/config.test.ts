import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, deepMerge, loadConfig, parseOverride, validateConfig } from '../../../config/load';
import { PRESET_NAMES } from '../../../config/presets';
import { DetectionTrainSchema, SeerConfigSchema } from '../../../config/schema';
import { evaluationInputFor } from '../../../contracts/evaluate';
import type { CheckpointPointer } from '../../../contracts/pretrain';

describe('config', () => {
  it('fills every field from the schema defaults', () => {
    const cfg = SeerConfigSchema.parse({});
    expect(cfg.run.name).toBe('demo');
    expect(cfg.ingest.prefixes).toEqual(['corpus/']);
    expect(cfg.swav.crops.map((c) => c.size)).toEqual([224, 96]);
    expect(cfg.model.regnet).toMatchObject({ depth: 13, w0: 24, groupWidth: 8 });
  });

  it.each(PRESET_NAMES)('preset %s is valid', (name) => {
    expect(loadConfig({ preset: name }).preset).toBe(name);
  });

  it('carries the SEER RegNetY-256GF settings in the seer-256gf preset', () => {
    const c = loadConfig({ preset: 'seer-256gf' });
    expect(c.model.regnet).toMatchObject({ depth: 27, w0: 640, wa: 230.83, wm: 2.53, groupWidth: 373 });
    expect(c.swav).toMatchObject({ prototypes: 16000, temperature: 0.1, sinkhornIterations: 10 });
    expect(c.swav.crops).toEqual([
      { size: 224, count: 2, minScale: 0.14, maxScale: 1 },
      { size: 96, count: 4, minScale: 0.05, maxScale: 0.14 },
    ]);
    expect(c.optim.weightDecay).toBe(1e-5);
    expect(c.train.batchSize).toBe(8192);
  });

  it('applies --set overrides with JSON values, over preset and file', () => {
    const c = loadConfig({
      preset: 'tiny',
      set: ['train.epochs=7', 'ingest.prefixes=["a/","b/"]', 'run.name=night-1'],
    });
    expect(c.train.epochs).toBe(7);
    expect(c.ingest.prefixes).toEqual(['a/', 'b/']);
    expect(c.run.name).toBe('night-1');
    expect(c.model.regnet.depth).toBe(4); // the rest of the preset stays
    expect(Object.isFrozen(c.train)).toBe(true);
  });

  it('rejects invalid values once, with a message naming each bad field', () => {
    expect(() => loadConfig({ set: ['model.regnet.w0=20'] })).toThrow(
      /w0 must be a multiple of 8[\s\S]*model\.regnet\.w0/,
    );
    expect(() => loadConfig({ set: ['run.name=Bad Name'] })).toThrow(/run\.name/);
    expect(() => loadConfig({ set: ['swav.cropsForAssign=[0,9]'] })).toThrow(/cropsForAssign/);
    expect(() => loadConfig({ preset: 'huge' })).toThrow(/unknown preset "huge"/);
    expect(() => parseOverride('novalue')).toThrow(ConfigError);
    expect(() => validateConfig({ train: { batchSize: 1 } })).toThrow(/train\.batchSize/);
  });

  it('maps eval.detection into the evaluation input, and has no detection when disabled', () => {
    const checkpoint: CheckpointPointer = {
      key: 'runs/r/pretrain/checkpoints/step-00000010-a1.state',
      step: 10,
      cursor: { epoch: 1, position: 0 },
      sha256: 'ab',
      bytes: 1,
      loss: 3,
      backend: 'test',
    };
    const cfg = loadConfig({
      preset: 'tiny',
      set: ['run.seed=7', 'eval.detection.photos=2', 'eval.detection.testImages=9'],
    });
    const input = evaluationInputFor(cfg, 'r', checkpoint);
    expect(input.detection).toEqual({
      images: cfg.eval.detection.images,
      testImages: 9,
      size: 64,
      epochs: cfg.eval.detection.epochs,
      seed: 7,
      photos: 2,
      train: cfg.eval.detection.train,
    });
    expect(input).toMatchObject({
      runName: 'r',
      bucket: cfg.ingest.bucket,
      checkpoint,
      seeds: cfg.eval.seeds,
      epochs: cfg.eval.epochs,
      shortSide: cfg.preprocess.shortSide,
    });
    const off = evaluationInputFor(
      loadConfig({ preset: 'tiny', set: ['eval.detection.enabled=false'] }),
      'r',
      checkpoint,
    );
    expect(off.detection).toBeNull();
    // The schema default is the benchmark of docs/detection.md; a zero-image dataset is refused at the edge.
    expect(SeerConfigSchema.parse({}).eval.detection).toEqual({
      enabled: true,
      images: 1000,
      testImages: 250,
      size: 64,
      epochs: 20,
      train: DetectionTrainSchema.parse({}),
    });
    expect(() => loadConfig({ set: ['eval.detection.images=0'] })).toThrow(/eval\.detection\.images/);
  });

  it('deep-merges objects and replaces arrays', () => {
    expect(deepMerge({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } })).toEqual({ a: { b: 1, c: [3] } });
  });
});

describe('seerflow CLI edge', () => {
  const bin = path.resolve(__dirname, '../../../bin/seerflow');
  it('exits 2 and names the field for an invalid config', () => {
    const r = spawnSync(bin, ['config', 'validate', '--set', 'optim.momentum=3'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/optim\.momentum/);
  }, 60_000);

  it('prints the resolved config as the pipeline input for the Temporal CLI', () => {
    const r = spawnSync(bin, ['config', 'show', '--preset', 'tiny', '--name', 'x1', '--as-input'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const input = JSON.parse(r.stdout) as { config: { run: { name: string }; preset: string } };
    expect(input.config).toMatchObject({ preset: 'tiny', run: { name: 'x1' } });
  }, 60_000);

  it('exits 2 on an unknown option', () => {
    const r = spawnSync(bin, ['run', '--no-such-flag'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
  }, 60_000);
});
