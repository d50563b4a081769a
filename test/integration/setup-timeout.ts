jest.setTimeout(600_000);
// Own task queues for this test run, so workers someone else runs on the same Temporal server (a developer's
// `seerflow worker`, the demo) never take its tasks. Spawned worker processes inherit the variable.
process.env.SEERFLOW_TASK_QUEUE_BASE ??= `seerflow-test-${process.pid}`;
