// Metrics and dashboard options: a bad one is a ConfigError naming the field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dashboard, GatewayMetrics } from '../../src/ops/index.js';

test('ops options - bad metrics and dashboard options are ConfigErrors naming the field', () => {
  assert.throws(() => new GatewayMetrics({ maxModels: 0 }), {
    name: 'ConfigError',
    message: "gateway metrics: 'maxModels' expected integer to be greater or equal to 1, got 0",
  });
  assert.throws(() => new GatewayMetrics({ maxTenant: 5 } as never), {
    name: 'ConfigError',
    message: "gateway metrics: unknown option 'maxTenant'",
  });
  const metrics = new GatewayMetrics({ maxModels: 3 });
  assert.throws(() => new Dashboard(metrics, { intervalMs: 0.5 }), {
    name: 'ConfigError',
    message: "dashboard: 'intervalMs' expected integer, got 0.5",
  });
  assert.throws(() => new Dashboard(metrics, { maxClients: -1 }), {
    name: 'ConfigError',
    message: "dashboard: 'maxClients' expected integer to be greater or equal to 1, got -1",
  });
  const dashboard = new Dashboard(metrics, { intervalMs: 500 });
  assert.equal(dashboard.connected, 0);
  dashboard.close();
});
