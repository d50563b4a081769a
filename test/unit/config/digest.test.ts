import { loadConfig } from '../../../config/load';
import { canonicalJson, configDigest } from '../../../config/digest';

describe('configDigest', () => {
  it('is the same for the same value whatever the key order, and differs when a value does', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 0 }], c: undefined } })).toBe(
      '{"a":{"d":[2,{"x":0,"y":1}]},"b":1}',
    );
    expect(configDigest({ a: 1, b: { c: 2 } })).toBe(configDigest({ b: { c: 2 }, a: 1 }));
    expect(configDigest({ a: 1 })).toMatch(/^[0-9a-f]{16}$/);
    expect(configDigest({ a: 1 })).not.toBe(configDigest({ a: 2 }));
  });

  it('tells two resolved configs apart by any field, and not by how they were written', () => {
    const base = configDigest(loadConfig({ preset: 'tiny', set: ['run.name=x'] }));
    expect(configDigest(loadConfig({ preset: 'tiny', set: ['run.name=x'] }))).toBe(base);
    expect(configDigest(loadConfig({ preset: 'tiny', set: ['run.name=x', 'train.epochs=1'] }))).not.toBe(base);
    const defaults = loadConfig({ preset: 'tiny', set: ['run.name=x'] });
    expect(
      configDigest(loadConfig({ preset: 'tiny', set: ['run.name=x', `train.epochs=${defaults.train.epochs}`] })),
    ).toBe(base);
  });
});
