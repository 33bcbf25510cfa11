// The reverse direction of a mirror, for every way the forward one maps keys.
import { describe, expect, it } from 'vitest';
import { destinationKey } from '../../mirror/key-mapping.js';
import { remainingFlips, reverseIndexKey, reverseMapping } from '../../bin/commands/switchover-plan.js';

describe('reverseMapping', () => {
  const cases = [
    { forward: { srcPrefix: '/conftool', dstPrefix: '/conftool', strip: true }, reverse: { srcPrefix: '/conftool', dstPrefix: '/conftool', strip: true }, index: '/__replication/conftool' },
    { forward: { srcPrefix: '/conftool', dstPrefix: '/replica', strip: false }, reverse: { srcPrefix: '/replica/conftool', dstPrefix: '/conftool', strip: true }, index: '/__replication/conftool' },
    { forward: { srcPrefix: '/', dstPrefix: '/', strip: true }, reverse: { srcPrefix: '/', dstPrefix: '/', strip: true }, index: '/__replication/__ROOT__' },
    { forward: { srcPrefix: '/a', dstPrefix: '/b', strip: true }, reverse: { srcPrefix: '/b', dstPrefix: '/a', strip: true }, index: '/__replication/a' },
  ];
  it.each(cases)('reverses $forward', ({ forward, reverse, index }) => {
    expect(reverseMapping(forward)).toEqual(reverse);
    expect(reverseIndexKey(forward)).toBe(index);
  });

  it.each(cases)('sends every key back where it came from ($forward)', ({ forward }) => {
    for (const key of [forward.srcPrefix, `${forward.srcPrefix === '/' ? '' : forward.srcPrefix}/x/y`]) {
      const there = destinationKey(key, forward);
      expect(there).toBeDefined();
      expect(destinationKey(there ?? '', reverseMapping(forward))).toBe(key);
    }
  });

  it('lists the flips in the order that avoids two mirrors echoing', () => {
    const flips = remainingFlips({ srcPrefix: '/conftool', dstPrefix: '/conftool', strip: true }, { oldPrimary: 'https://old:4001', newPrimary: 'https://new:4001' }).join('\n');
    const stop = flips.indexOf('Stop the forward mirror');
    const writable = flips.indexOf('readOnly: false');
    const start = flips.indexOf('Start the reverse mirror');
    expect(stop).toBeGreaterThanOrEqual(0);
    expect(stop).toBeLessThan(writable);
    expect(writable).toBeLessThan(start);
    expect(flips).toContain('WITHOUT --reload');
    expect(flips).toContain('etcd-warden mirror --src-prefix /conftool --dst-prefix /conftool --strip');
  });
});
