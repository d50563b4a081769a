/**
 * The fallback path: SEERFLOW_BACKEND=cpu skips native TensorFlow. Own test file, because the backend is chosen
 * once per process (jest gives each file its own module registry).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../engine/backend';
import { createSwavEngine } from '../../../engine/index';
import { syntheticBatch, tinyConfig } from './helpers';

describe('backend fallback', () => {
  it('rejects an unknown SEERFLOW_BACKEND', () => {
    process.env.SEERFLOW_BACKEND = 'webgpu';
    expect(() => initBackend()).toThrow(/SEERFLOW_BACKEND/);
  });

  it('forced cpu: reports a warning with the reason and still trains (split conv, tfjs BN)', () => {
    process.env.SEERFLOW_BACKEND = 'cpu';
    const warnings: string[] = [];
    const info = initBackend({ warn: (m) => warnings.push(m) });
    delete process.env.SEERFLOW_BACKEND;
    expect(info).toMatchObject({ name: 'cpu', native: false, device: 'cpu', tfVersion: null });
    expect(info.fallbackReason).toMatch(/SEERFLOW_BACKEND=cpu/);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/WARNING.*cpu/);
    expect(tf.getBackend()).toBe('cpu');
    expect(initBackend()).toBe(info); // chosen once

    const cfg = tinyConfig({ crops: [{ size: 8, count: 2, minScale: 0.14, maxScale: 1 }] });
    const engine = createSwavEngine(cfg);
    expect(engine.info).toBe(info);
    engine.init(0);
    const r1 = engine.step(syntheticBatch(cfg, 2, 0, 0), 0.5);
    const n = tf.memory().numTensors;
    const r2 = engine.step(syntheticBatch(cfg, 2, 0, 0), 0.5);
    expect(tf.memory().numTensors).toBe(n);
    expect(Number.isFinite(r1.loss) && Number.isFinite(r2.loss)).toBe(true);
    expect(engine.embed(new Float32Array(8 * 8 * 3), 1, 8).length).toBe(engine.spec.outWidth);
    engine.dispose();
  });
});
