/**
 * Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE`
 * once per metric family, then one sample per label set. Pure: no runtime
 * APIs, so the edge and the sidecar format their metrics with it alike.
 *
 * @example
 * formatPrometheus([{ name: 'mqtt_clients_connected', help: 'Clients connected now.', type: 'gauge',
 *   samples: [{ labels: { namespace: 'default' }, value: 2 }] }]);
 * // # HELP mqtt_clients_connected Clients connected now.
 * // # TYPE mqtt_clients_connected gauge
 * // mqtt_clients_connected{namespace="default"} 2
 */
export const PrometheusContentType = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricFamily {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total`. */
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

const MetricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LabelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function formatPrometheus(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (!MetricNamePattern.test(family.name)) throw new Error(`invalid metric name "${family.name}"`);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) lines.push(`${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
  }
  return `${lines.join('\n')}\n`;
}

function formatLabels(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([name, value]) => {
    if (!LabelNamePattern.test(name)) throw new Error(`invalid label name "${name}"`);
    return `${name}="${escapeLabelValue(value)}"`;
  });
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** In HELP text only backslash and newline are escaped. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** In label values backslash, double quote and newline are escaped. */
function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The metrics of a broker namespace; names follow mosquitto's $SYS topics where there is one. */
