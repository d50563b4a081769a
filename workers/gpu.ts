/** Worker entry point for the gpu task queue: `node dist/workers/gpu.js`. */
import { runWorkers } from './run-workers';

runWorkers({ queues: ['gpu'], log: (l) => process.stderr.write(`${l}\n`) }).catch((err: unknown) => {
  process.stderr.write(`worker failed: ${String(err)}\n`);
  process.exit(1);
});
