/** Worker entry point for the orchestrator task queue: `node dist/workers/orchestrator.js`. */
import { runWorkers } from './run-workers';

runWorkers({ queues: ['orchestrator'], log: (l) => process.stderr.write(`${l}\n`) }).catch((err: unknown) => {
  process.stderr.write(`worker failed: ${String(err)}\n`);
  process.exit(1);
});
