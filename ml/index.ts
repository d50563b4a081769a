/**
 * seerflow's pure maths library: no I/O, no clocks, no tensor framework. Everything here is deterministic and
 * safe to import from workflows, activities, the CLI and tests.
 *
 * - {@link regnetSpec} / {@link regnetComplexity}: the RegNet design space and its parameter/FLOP counts.
 * - {@link sinkhornKnopp} / {@link swavLoss}: SwAV's equipartitioned codes and swapped-prediction loss.
 * - {@link lrAt} / {@link lrSchedule}: the SwAV warmup + cosine learning-rate schedule.
 * - {@link larsStep}: reference LARC + SGD-momentum update.
 * - {@link roundHalfEven} / {@link makeDivisible}: Python/NumPy and torchvision rounding.
 * - {@link Rng}: keyed, replayable random streams.
 * - {@link cocoEvaluate}: COCO box AP/AR with pycocotools' exact semantics.
 *
 * @packageDocumentation
 */
export * from './rounding';
export * from './regnet';
export * from './complexity';
export * from './sinkhorn';
export * from './swav-loss';
export * from './schedules';
export * from './lars';
export * from './rng';
export * from './coco-eval';
