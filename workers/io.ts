/** Worker entry point for the io task queue: `node dist/workers/io.js`. */
import { runWorkers } from './run-workers';

runWorkers({ queues: ['io'], log: (l) => process.stderr.write(`${l}\n`) }).catch((err: unknown) => {
  process.stderr.write(`worker failed: ${String(err)}\n`);
  process.exit(1);
});
