import { describe, expect, it } from 'vitest';
import { formatAge, stalenessGate } from '../../proxy/staleness.js';

describe('stalenessGate', () => {
  it('lets a request without X-Etcd-Max-Staleness through, whatever the age', () => {
    expect(stalenessGate(undefined, 3600)).toBeUndefined();
    expect(stalenessGate(undefined, undefined)).toBeUndefined();
  });
  it('lets data within the bound through', () => {
    expect(stalenessGate('5', 4.999)).toBeUndefined();
    expect(stalenessGate('0.5', 0.5)).toBeUndefined();
  });
  it('refuses older data with an etcd-style 503 naming both figures', () => {
    expect(stalenessGate('5', 12.3456)).toEqual({
      status: 503,
      headers: { 'x-etcd-replica-age': '12.346' },
      body: { errorCode: 300, message: 'Replica data is older than the requested maximum staleness', cause: 'replica age 12.346 s exceeds X-Etcd-Max-Staleness 5 s', index: 0 },
    });
  });
  it('refuses when no heartbeat was ever seen, since freshness cannot be proven', () => {
    expect(stalenessGate('60', undefined)).toMatchObject({ status: 503, body: { cause: 'no heartbeat from the primary has been seen on this replica' } });
  });
  it.each(['', 'soon', '-1', 'Infinity'])('answers 400 to a bound of %j', (bound) => {
    expect(stalenessGate(bound, 1)).toMatchObject({ status: 400 });
  });
  it('formats ages with millisecond precision', () => {
    expect(formatAge(1)).toBe('1.000');
    expect(formatAge(0.0004)).toBe('0.000');
  });
});
