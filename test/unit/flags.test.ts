// The one flag reader every command uses (bin/commands/flags.ts).
import { describe, expect, it } from 'vitest';
import {
  booleanFlag, choiceFlag, integerFlag, prefixFlag, readCommandLine, regexFlag, switchFlag, textFlag, urlFlag, urlListFlag, UsageError,
} from '../../bin/commands/flags.js';

const flags = {
  config: textFlag('--config', '-c'),
  port: integerFlag('--port', { max: 65535 }).or(8000),
  mode: choiceFlag('--mode', ['resync', 'exit'] as const).or('resync'),
  prefix: prefixFlag('--prefix').or('/'),
  ignore: regexFlag('--ignore'),
  endpoints: urlListFlag('--endpoints').or([]),
  mirror: urlFlag('--mirror'),
  expect: booleanFlag('--expect'),
  json: switchFlag('--json'),
};

const problem = (argv: string[]): string => {
  try {
    readCommandLine(argv, flags);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error(`no usage error for ${JSON.stringify(argv)}`);
};

describe('readCommandLine', () => {
  it('gives every flag its typed value or its default', () => {
    expect(readCommandLine([], flags).flags).toEqual({
      config: undefined, port: 8000, mode: 'resync', prefix: '/', ignore: undefined, endpoints: [], mirror: undefined, expect: undefined, json: false,
    });
  });

  it('reads --flag value, --flag=value, aliases and switches, and keeps the rest in order', () => {
    const line = readCommandLine(['-c', 'a.yaml', '--port=0', '--mode', 'exit', '--prefix', '/conftool/', '--endpoints', 'http://a:1,https://b:2', '--expect=false', '--json', 'SRC', 'DST'], flags);
    expect(line.flags).toMatchObject({ config: 'a.yaml', port: 0, mode: 'exit', prefix: '/conftool', endpoints: ['http://a:1', 'https://b:2'], expect: false, json: true });
    expect(line.positional).toEqual(['SRC', 'DST']);
  });

  it.each([
    [['--port', '65536'], '--port needs an integer from 0 to 65535, got "65536"'],
    [['--mode', 'maybe'], '--mode must be resync or exit, got "maybe"'],
    [['--prefix', 'conftool'], '--prefix needs an absolute key path such as /conftool, got "conftool"'],
    [['--prefix', '/a/../b'], '--prefix needs an absolute key path such as /conftool, got "/a/../b"'],
    [['--ignore', '('], '--ignore: Invalid regular expression'],
    [['--endpoints', 'ftp://a'], '--endpoints must be an http(s) URL'],
    [['--mirror', 'http://a,http://b'], '--mirror takes one URL'],
    [['--expect', 'yes'], '--expect must be true or false'],
    [['--json=1'], '--json takes no value'],
    [['--port'], '--port needs a value'],
    [['-x'], 'unknown flag -x'],
  ])('names the flag: %j', (argv, message) => {
    expect(problem(argv)).toContain(message);
  });

  it('never repeats a URL, which may carry a password', () => {
    expect(problem(['--mirror', 'gopher://user:secret@host'])).not.toContain('secret');
  });
});
