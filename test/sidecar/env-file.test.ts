/** parseEnvFile: the lines systemd's EnvironmentFile= and docker's --env-file read the same way, and no others. */
import { describe, expect, it } from 'vitest';
import { parseEnvFile } from '../../sidecar/env-file.ts';

describe('parseEnvFile', () => {
  it('reads NAME=value lines and skips blank lines and comments', () => {
    const text = ['# the edge', '', 'MQTT_EDGE_URL=wss://edge.example/mqtt/site-a', '  # indented comment', 'MQTT_TCP_PORT=1884\r', 'MQTT_BRIDGE_SECRET=a=b#c ', 'MQTT_TCP_PORT=1885'].join('\n');
    expect(parseEnvFile(text)).toEqual({
      entries: [
        { name: 'MQTT_EDGE_URL', value: 'wss://edge.example/mqtt/site-a', line: 3 },
        { name: 'MQTT_TCP_PORT', value: '1884', line: 5 },
        // Only a line that starts with # is a comment; = and # further on are the value's.
        { name: 'MQTT_BRIDGE_SECRET', value: 'a=b#c', line: 6 },
        { name: 'MQTT_TCP_PORT', value: '1885', line: 7 },
      ],
      problems: [],
    });
  });

  it('keeps an empty value: it unsets the setting, as an empty variable does', () => {
    expect(parseEnvFile('MQTT_TLS_PORT=').entries).toEqual([{ name: 'MQTT_TLS_PORT', value: '', line: 1 }]);
  });

  it.each([
    ['MQTT_TCP_PORT 1883', 'line 1: expected NAME=value, found "MQTT_TCP_PORT 1883"'],
    ['export MQTT_TCP_PORT=1883', 'line 1: expected NAME=value, found "export MQTT_TCP_PORT=1883"'],
    ['MQTT_TCP_PORT = 1883', 'line 1: expected NAME=value, found "MQTT_TCP_PORT = 1883"'],
    ['MQTT_LOG_LEVEL="debug"', "line 1: MQTT_LOG_LEVEL's value is in quotes, which systemd removes and docker --env-file keeps: write it without them"],
    ["MQTT_LOG_LEVEL='debug'", "line 1: MQTT_LOG_LEVEL's value is in quotes, which systemd removes and docker --env-file keeps: write it without them"],
  ])('refuses %s', (line, problem) => {
    expect(parseEnvFile(line)).toEqual({ entries: [], problems: [problem] });
  });
});
