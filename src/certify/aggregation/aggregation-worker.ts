/** Worker thread of an aggregation certificate: loads the data once, then trains base classifiers one after another. */
import { serveWorker } from '../../workers/pool.js';
import { loadAggregationData, type AggregationData } from './data.js';
import { runPartitionTask, type PartitionOutcome, type PartitionTask, type PartitionTaskInit } from './task.js';

serveWorker<PartitionTaskInit, PartitionTask, PartitionOutcome, { init: PartitionTaskInit; data: AggregationData }>(
  async (init) => ({ init, data: 'inline' in init.data ? init.data.inline : await loadAggregationData(init.data) }),
  (state, task) => runPartitionTask(state.init, state.data, task),
);
