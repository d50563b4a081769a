/**
 * Worker shutdown for the training children (pretraining, classification and detection trainers). On SIGTERM the
 * worker calls {@link stopTrainingChildren}: each running child commits its current checkpoint (step or epoch),
 * then stops, and its activity fails with the retryable `ErrorType.WorkerShutdown`, so the retry (on a restarted or another
 * worker) resumes from there. Without this the child would train through the shutdown grace period only to be
 * cancelled.
 */

/** The running children of one worker process, and whether it is shutting down. */
export class ShutdownRegistry {
  private readonly live = new Set<() => void>();
  private stopping = false;

  /**
   * Register a running child by the function that asks it to commit its epoch and stop; returns the function
   * that unregisters it. A child that starts after the shutdown began is asked at once.
   */
  track(stopAtEpochEnd: () => void): () => void {
    this.live.add(stopAtEpochEnd);
    if (this.stopping) stopAtEpochEnd();
    return () => this.live.delete(stopAtEpochEnd);
  }

  /** Ask every running child to commit its current epoch and stop; returns how many were running. */
  stopAll(): number {
    this.stopping = true;
    for (const stop of this.live) stop();
    return this.live.size;
  }
}

/** The worker process's registry (activities use it unless their deps name another, as tests do). */
export const workerShutdown = new ShutdownRegistry();

/** For the worker's signal handler: see {@link ShutdownRegistry.stopAll}. */
export function stopTrainingChildren(): number {
  return workerShutdown.stopAll();
}
