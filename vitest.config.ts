import { defineConfig } from 'vitest/config';

/**
 * Every MQTT behaviour suite runs in both shapes of a namespace
 * (docs/scale.md): `one-object`, the namespace's one Durable Object holding
 * its clients (MQTT_GATEWAYS=1), and `gateways`, WebSocket clients spread
 * over 4 gateway objects in front of the namespace's core. Tests read the
 * shape from TEST_MQTT_GATEWAYS (test/helpers/edge.ts).
 */
const behaviourSuites = [
  'test/integration/**/*.test.ts',
  'test/sidecar/e2e.test.ts',
  'test/sidecar/bridges.test.ts',
  'test/sidecar/mosquitto-bridge.test.ts',
  'test/model/live.model.test.ts',
  'test/fuzz/namespace.fuzz.test.ts',
  'test/attacks/**/*.test.ts',
  'test/differential/**/*.test.ts',
  'test/conformance/**/*.test.ts',
  'test/e2e/browser.test.ts',
];

export default defineConfig({
  test: {
    // Builds the Worker bundle once for every integration test file.
    globalSetup: ['test/helpers/global-setup.ts'],
    // Each integration file starts its own workerd; two cores, so keep it to two at once.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'one-object', include: ['test/**/*.test.ts'], env: { TEST_MQTT_GATEWAYS: '1' } } },
      { extends: true, test: { name: 'gateways', include: behaviourSuites, env: { TEST_MQTT_GATEWAYS: '4' } } },
    ],
  },
});
