/** All task queues in one process (the local demo): `node dist/workers/all.js`. */
import { ALL_QUEUES, runWorkers } from './run-workers';

runWorkers({ queues: ALL_QUEUES, log: (l) => process.stderr.write(`${l}\n`) }).catch((err: unknown) => {
  process.stderr.write(`worker failed: ${String(err)}\n`);
  process.exit(1);
});
