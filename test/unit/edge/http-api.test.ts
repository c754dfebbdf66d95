/**
 * Messages from outside MQTT (the HTTP publish API's body, the service
 * binding's call) are held to the limits of a client's PUBLISH: a topic of
 * more levels than MQTT_MAX_TOPIC_LEVELS, or longer than
 * MQTT_MAX_TOPIC_LENGTH, is refused with 400 and the reason; so is a QoS
 * above the maximum, or retain where it is not available.
 */
import { describe, expect, it } from 'vitest';
import { defaultLimits, topicOverLimits } from '../../../edge/core/limits.ts';
import { checkApiMessage, parsePublishRequest } from '../../../edge/http-api.ts';

const deep = (levels: number): string => Array.from({ length: levels }, (_, i) => `l${i}`).join('/');
const post = (body: unknown): Request => new Request('http://edge/publish', { method: 'POST', body: JSON.stringify(body) });

describe('messages from outside MQTT', () => {
  it('refuses a topic over MQTT_MAX_TOPIC_LEVELS or MQTT_MAX_TOPIC_LENGTH with 400 and the reason, and takes one at the limits', async () => {
    expect(await parsePublishRequest(post({ topic: deep(40), payload: 'x' }), defaultLimits)).toEqual({ ok: false, status: 400, error: 'the topic has 40 levels, more than 32 (MQTT_MAX_TOPIC_LEVELS)' });
    expect(await parsePublishRequest(post({ topic: 'x'.repeat(1025), payload: 'x' }), defaultLimits)).toEqual({ ok: false, status: 400, error: 'the topic is 1025 characters long, more than 1024 (MQTT_MAX_TOPIC_LENGTH)' });
    expect(await parsePublishRequest(post({ topic: deep(32), payload: 'x' }), defaultLimits)).toMatchObject({ ok: true });
    expect(await parsePublishRequest(post({ topic: 'a/b/c', payload: 'x' }), { ...defaultLimits, maxTopicLevels: 2 })).toMatchObject({ ok: false, status: 400 });
    // The same check a client's PUBLISH gets.
    expect(topicOverLimits(deep(33), defaultLimits)).toMatch(/MQTT_MAX_TOPIC_LEVELS/);
    expect(topicOverLimits(deep(32), defaultLimits)).toBeUndefined();
  });

  it("checks a service binding's message as the HTTP API's: topic, limits, QoS, retain, bytes", () => {
    const payload = new TextEncoder().encode('x');
    expect(checkApiMessage({ topic: deep(40), payload, qos: 0, retain: false }, defaultLimits)).toMatchObject({ ok: false, error: expect.stringMatching(/MQTT_MAX_TOPIC_LEVELS/) });
    expect(checkApiMessage({ topic: 'a/+', payload, qos: 0, retain: false }, defaultLimits)).toMatchObject({ ok: false, status: 400 });
    expect(checkApiMessage({ topic: '$SYS/broker/version', payload, qos: 0, retain: true }, defaultLimits)).toMatchObject({ ok: false, status: 400 });
    expect(checkApiMessage({ topic: 'a', payload, qos: 3, retain: false }, defaultLimits)).toMatchObject({ ok: false, status: 400 });
    expect(checkApiMessage({ topic: 'a', payload: 'not bytes', qos: 0, retain: false }, defaultLimits)).toMatchObject({ ok: false, status: 400 });
    expect(checkApiMessage({ topic: 'a', payload: new Uint8Array(11), qos: 0, retain: false }, { ...defaultLimits, maxPacketSize: 10 })).toMatchObject({ ok: false, status: 413 });
    expect(checkApiMessage({ topic: 'a/b', payload }, defaultLimits)).toEqual({ ok: true, message: { topic: 'a/b', payload, qos: 0, retain: false } });
    // A namespace's maximum QoS and retain, as its clients' PUBLISH is held to them.
    const strict = { ...defaultLimits, maximumQos: 1 as const, retainAvailable: false };
    expect(checkApiMessage({ topic: 'a', payload, qos: 2, retain: false }, strict)).toMatchObject({ ok: false, status: 400, error: expect.stringMatching(/maximum QoS 1/) });
    expect(checkApiMessage({ topic: 'a', payload, qos: 1, retain: true }, strict)).toMatchObject({ ok: false, status: 400, error: expect.stringMatching(/retained messages are not available/) });
  });
});
