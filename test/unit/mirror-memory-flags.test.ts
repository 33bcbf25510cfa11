import { describe, expect, it } from 'vitest';
import { mirrorNodeFlags } from '../../mirror/options.js';
import { runsForMemory } from '../../mirror/process.js';

describe('the mirror runs for memory only when started with its memory flags', () => {
  it.each([
    { how: 'on the command line, as the bundled child starts', execArgv: [...mirrorNodeFlags], nodeOptions: undefined, expected: true },
    { how: 'in NODE_OPTIONS, as the unit starts it', execArgv: [], nodeOptions: `--enable-source-maps ${mirrorNodeFlags.join(' ')}`, expected: true },
    { how: 'without them: the unit with its NODE_OPTIONS line removed', execArgv: [], nodeOptions: undefined, expected: false },
    { how: 'with another young generation size', execArgv: ['--max-semi-space-size=16'], nodeOptions: '', expected: false },
  ])('$how: $expected', ({ execArgv, nodeOptions, expected }) => {
    expect(runsForMemory(execArgv, nodeOptions)).toBe(expected);
  });
});
