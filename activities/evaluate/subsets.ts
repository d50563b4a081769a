/**
 * Class-balanced label subsets for the low-shot protocols: the same number of images from every class,
 * round(fraction * N / C) (at least 1, at most what a class has), drawn by a keyed {@link Rng} from
 * (seed, fraction). A subset is a pure function of the labels file, the fraction and the seed, so rebuilding it
 * gives the same key list; it is stored once per (fraction, seed) as SimCLR's fixed subset lists are.
 */
import { ErrorType, SeerflowError } from '../../contracts/errors';
import { hashInts, Rng } from '../../ml/rng';
import type { LabelLine } from './eval-data';

/** A stored subset (`evaluateKeys.subset(fraction, seed)`). */
export interface LabelSubset {
  schema: 'seerflow.label-subset/1';
  fraction: number;
  seed: number;
  perClass: number;
  /** SHA-256 of the labels file it was drawn from */
  labelsSha256: string;
  /** images per class in the subset */
  counts: Record<string, number>;
  /** keys, sorted */
  keys: string[];
}

/** Draw the class-balanced subset of `lines` (pure). */
export function classBalancedSubset(
  lines: readonly LabelLine[],
  fraction: number,
  seed: number,
  labelsSha256: string,
): LabelSubset {
  if (!(fraction > 0 && fraction <= 1))
    throw new SeerflowError(ErrorType.InvalidInput, `fraction must be in (0, 1], got ${fraction}`);
  const byClass = new Map<number, LabelLine[]>();
  for (const l of lines) {
    const list = byClass.get(l.label) ?? [];
    list.push(l);
    byClass.set(l.label, list);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const perClass = Math.max(1, Math.round((fraction * lines.length) / Math.max(1, classes.length)));
  const keys: string[] = [];
  const counts: Record<string, number> = {};
  for (const c of classes) {
    // Canonical order first (the file's order must not matter), then a stream keyed by (seed, fraction, class).
    const list = [...(byClass.get(c) as LabelLine[])].sort((a, b) => a.index - b.index || (a.key < b.key ? -1 : 1));
    const rng = Rng.keyed(seed, hashInts([Math.round(fraction * 1e6)]), c, 0x5b5e7);
    const picked = rng.shuffle(list).slice(0, Math.min(perClass, list.length));
    counts[String(c)] = picked.length;
    keys.push(...picked.map((l) => l.key));
  }
  keys.sort();
  return { schema: 'seerflow.label-subset/1', fraction, seed, perClass, labelsSha256, counts, keys };
}
