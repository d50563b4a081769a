/**
 * Which checkpoint is the newest: decided here only, for the pretraining workflow, the training activities and the
 * checkpoint store (activities/training-kit/checkpoint-store.ts). Pure and safe to import from workflows.
 */

/** How far a checkpoint got: completed steps (pretraining) or epochs (classification, detection). */
export type Progress<P> = (pointer: P) => number;

/**
 * Candidates newest first (most progress); among equal progress the earlier candidate stays first, so callers list
 * the candidate they prefer on a tie first. Absent candidates are dropped.
 */
export function newestFirst<P>(candidates: readonly (P | undefined)[], progress: Progress<P>): P[] {
  return candidates
    .filter((p): p is P => p !== undefined)
    .map((p, i) => ({ p, i, at: progress(p) }))
    .sort((a, b) => b.at - a.at || a.i - b.i)
    .map((c) => c.p);
}

/** The newest of `candidates` (see {@link newestFirst} for ties); undefined when there is none. */
export function newestPointer<P>(candidates: readonly (P | undefined)[], progress: Progress<P>): P | undefined {
  return newestFirst(candidates, progress)[0];
}
