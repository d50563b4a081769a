/** The pretraining stage's durable interface. Safe to import from workflows. */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { OptimConfig, RegNetConfig, SwavConfig, TrainConfig } from '../config/schema';

export interface DataCursor {
  epoch: number;
  position: number;
}

/** What the workflow keeps about the newest committed checkpoint (small: a pointer, never weights). */
export interface CheckpointPointer {
  key: string;
  step: number;
  cursor: DataCursor;
  sha256: string;
  bytes: number;
  loss: number;
  backend: string;
}

export interface PretrainJob {
  runName: string;
  bucket: string;
  datasetKey: string;
  seed: number;
  regnet: RegNetConfig;
  swav: SwavConfig;
  optim: OptimConfig;
  train: TrainConfig;
  /** Run until this many steps in total (a segment stops earlier at `train.segmentSteps`). */
  targetSteps: number;
  /** Newest checkpoint the workflow knows of; the activity may find a newer one in S3 (its own heartbeat). */
  resumeFrom?: CheckpointPointer;
  /** Optional checkpoint of another run to start from (warm start); ignored once this run has its own. */
  warmStartFrom?: string;
}

export interface SegmentResult {
  pointer: CheckpointPointer;
  steps: number;
  stepsThisSegment: number;
  done: boolean;
  loss: number;
  lr: number;
  imagesPerSec: number;
  /** Wall seconds spent computing (data + steps + checkpoints) in this segment. */
  computeSeconds: number;
  skippedSamples: number;
  backend: string;
  backendWarning?: string;
}

export interface PretrainInput {
  job: Omit<PretrainJob, 'targetSteps' | 'resumeFrom'>;
  /** Carried across continue-as-new. */
  resume?: {
    pointer?: CheckpointPointer;
    segments: number;
    computeSeconds: number;
    history: { step: number; loss: number; lr: number }[];
  };
}

export interface PretrainProgress {
  runName: string;
  step: number;
  totalSteps: number;
  epoch: number;
  epochs: number;
  loss?: number;
  lr?: number;
  imagesPerSec?: number;
  etaSeconds?: number;
  backend?: string;
  paused: boolean;
  checkpointKey?: string;
  segments: number;
}

export interface PretrainResult {
  runName: string;
  checkpoint: CheckpointPointer;
  steps: number;
  epochs: number;
  finalLoss: number;
  backend: string;
  computeSeconds: number;
  /** loss/lr at each segment end, for the report */
  history: { step: number; loss: number; lr: number }[];
  /** true when the run had already finished: nothing was trained */
  cached: boolean;
}

export const pretrainKeys = {
  root: (runName: string) => `runs/${runName}/pretrain/`,
  latest: (runName: string) => `runs/${runName}/pretrain/checkpoints/latest.json`,
  checkpoint: (runName: string, step: number, attempt: number) =>
    `runs/${runName}/pretrain/checkpoints/step-${String(step).padStart(8, '0')}-a${attempt}.state`,
  cursorLog: (runName: string, step: number) =>
    `runs/${runName}/pretrain/cursor-log/step-${String(step).padStart(8, '0')}.json`,
};

/** Steps per epoch with drop_last, as SwAV's DataLoader. */
export function stepsPerEpoch(images: number, batchSize: number): number {
  return Math.floor(images / batchSize);
}

/** Progress of a pretraining run (steps, loss, ETA, paused). */
export const pretrainProgressQuery = defineQuery<PretrainProgress>('pretrainProgress');
/** Stop the running training segment (it checkpoints first) until {@link resumeSignal}. */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Sent by the training activity for every committed checkpoint, so the workflow's pointer is never stale. */
export const checkpointCommittedSignal = defineSignal<[CheckpointPointer]>('checkpointCommitted');

/** Most loss/lr points the pretraining workflow carries (through continue-as-new and in its result). */
export const MAX_HISTORY_POINTS = 512;

/**
 * Append a segment's point, keeping at most {@link MAX_HISTORY_POINTS}: when full, every other point is dropped
 * (the first and the newest always stay), so the workflow's state is bounded however many segments a run has; the
 * curve stays spread over the whole run, older stretches more thinly. Pure and deterministic (workflow-safe).
 */
export function appendHistory<T>(history: T[], point: T, max = MAX_HISTORY_POINTS): T[] {
  history.push(point);
  if (history.length <= max) return history;
  const last = history[history.length - 1] as T;
  const thinned = history.filter((_, i) => i % 2 === 0);
  if (thinned[thinned.length - 1] !== last) thinned.push(last);
  return thinned;
}
