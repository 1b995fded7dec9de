// The curves group: sweeps instead of points. Each sweep is drawn as an SVG chart in
// bench/charts/ (with the baseline on the same chart where one exists) and listed as a table.
import type { BenchGroup } from '../group.js';
import { gatewayCurve } from '../curves/gateway-load.js';
import { QUEUE_ABOUT, queueDepthCurve } from '../curves/queue-depth.js';
import { requestSizeCurve } from '../curves/request-size.js';
import { rssCurve } from '../curves/rss-streams.js';

export const curvesGroup: BenchGroup = {
  name: 'curves',
  about:
    'Cost curves: each chart sweeps one load dimension. (1) The gateway against the bare ' +
    '`node:http` SSE server running the same sim, as in the gateway group (in-process memory ' +
    'bus, 2 sim workers, unpaced 128-token streams; a load generator in a child process; ' +
    'rounds alternate the two servers). (2) A real `llmwire up` child process (SQLite ' +
    'transport, 2 sim workers) holding paced streams open, a fresh process per level, its ' +
    'VmRSS read from /proc every 100 ms. (3) ' +
    QUEUE_ABOUT +
    ' (4) One request in flight, a JSON body of the given size echoed back: `bus.serve` + ' +
    '`bus.request` over NATS (two connections) against raw nats.js `request` + `msg.respond`, ' +
    'and the same over the embedded memory transport. Not part of a plain `npm run bench`: ' +
    'filling the queues takes many minutes; run `npm run bench -- --only curves` ' +
    '(`--quick` sweeps fewer, smaller levels). The rows table holds the figures with a target.',
  onlyWhenNamed: true,
  settings: {
    full: { rounds: 2, roundMs: 1500, warmupMs: 300 },
    quick: { rounds: 1, roundMs: 300, warmupMs: 100 },
  },
  async run(ctx) {
    // Each sweep on its own: one that fails leaves the others' charts standing.
    const failed: string[] = [];
    const curves = {
      gateway: gatewayCurve,
      rss: rssCurve,
      'request size': requestSizeCurve,
      'queue depth': queueDepthCurve,
    };
    for (const [name, curve] of Object.entries(curves)) {
      try {
        await curve(ctx);
      } catch (err) {
        console.error(err);
        failed.push(`${name}: ${(err as Error).message}`);
      }
    }
    if (failed.length > 0) throw new Error(failed.join('; '));
    return { rows: ctx.rows };
  },
};
