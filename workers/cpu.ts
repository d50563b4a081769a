/** Worker entry point for the cpu task queue: `node dist/workers/cpu.js`. */
import { runWorkers } from './run-workers';

runWorkers({ queues: ['cpu'], log: (l) => process.stderr.write(`${l}\n`) }).catch((err: unknown) => {
  process.stderr.write(`worker failed: ${String(err)}\n`);
  process.exit(1);
});
