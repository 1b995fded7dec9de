// A training feed on the embedded SQLite file: a producer publishes batches sharded by key, a
// trainer consumes them, saving its "model" with each checkpoint. Run it twice with the same
// file and the second run resumes where the first stopped:
//
//   npm run build && node dist/examples/train-feed.js /tmp/feed.db
import { pathToFileURL } from 'node:url';
import { createBus } from '../src/bus/index.js';
import { createFeed } from '../src/llm/train/index.js';
import { createSqliteTransport } from '../src/transport/sqlite/index.js';

/** Publishes `batches` batches (unless already there), trains on `trainSteps` of them. */
export async function trainFeed(
  path: string,
  options: { batches: number; trainSteps: number },
): Promise<{ steps: number[]; sumOfSteps: number }> {
  const transport = createSqliteTransport({ path });
  const bus = createBus({ transport, source: 'example' });
  try {
    const feed = createFeed(bus, { name: 'corpus', shards: 2, leaseMs: 2000 });
    for (let step = 0; step < options.batches; step++) {
      // The id makes publishing again (a second run) a no-op within the dedup window.
      await feed.publish(
        { run: 'demo', step, examples: [{ input: `sentence ${step}`, target: step % 3 }] },
        { key: `doc-${step % 4}`, id: `demo-${step}` },
      );
    }
    const steps: number[] = [];
    let sumOfSteps = 0;
    if (options.trainSteps > 0) {
      await using trainer = feed.trainer({ id: 'example-trainer' });
      for await (const batch of trainer) {
        // Resume the model from the checkpoint the batch was read after.
        const model = (batch.checkpoint?.state as { sum: number } | undefined) ?? { sum: 0 };
        model.sum += batch.step; // the "training step"
        await batch.commit(model); // checkpoint (with the model) first, then the batch is gone
        steps.push(batch.step);
        sumOfSteps = model.sum;
        if (steps.length >= options.trainSteps) break;
      }
    }
    return { steps, sumOfSteps };
  } finally {
    await bus.close();
    await transport.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const path = process.argv[2] ?? 'feed-example.db';
  const r = await trainFeed(path, { batches: 20, trainSteps: 10 });
  console.log(`trained on steps ${r.steps.join(', ')}`);
}
