// `npm run bench`: the proxy bench, the v3 proxy bench (v3-bench.ts), then
// the mirror benches (v2: mirror-bench.ts, then v3 and v2 → v3:
// mirror-v3-bench.ts). `--only proxy`, `--only v3` or `--only mirror` runs
// one; `--only proxy-watches` runs only the proxy bench's large watch row
// (BENCH_WATCHES_LARGE through etcd-warden ×2, and nginx if it can). Each prints its own table on stdout; progress goes to stderr.
import { benchMirror } from './mirror-bench.js';
import { benchMirrorV3 } from './mirror-v3-bench.js';
import { benchProxy } from './proxy-bench.js';
import { benchV3 } from './v3-bench.js';
import { cleanUpAll, installCleanupHandlers } from './lib/cleanup.js';

type BenchName = 'proxy' | 'proxy-watches' | 'v3' | 'mirror';
const benchNames: readonly string[] = ['proxy', 'proxy-watches', 'v3', 'mirror'];

interface RunArguments {
  readonly only?: BenchName;
  readonly profile: 'auto' | 'always' | 'never';
  readonly profileOut?: string;
}

const usage = `usage: node dist/test/bench/run.js [--only proxy|proxy-watches|v3|mirror] [--profile|--no-profile] [--profile-out FILE]
  BENCH_SECONDS        length of each measured run (default 10)
  BENCH_ROUNDS         interleaved rounds of the proxy bench's GET row (default 3)
  BENCH_WATCHES        open watches for the memory and fan-out figures, v2 and v3 (default 2000)
  BENCH_WATCHES_LARGE  the proxy bench's large watch row (default 10000)
  needs wrk, openssl, htpasswd, etcd, and nginx for the comparison:
    apt-get install -y wrk nginx-light apache2-utils
`;

function parseArguments(argv: readonly string[]): RunArguments | string {
  let only: BenchName | undefined;
  let profile: RunArguments['profile'] = 'auto';
  let profileOut: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string | undefined => argv[++i];
    if (arg === '--only' || arg?.startsWith('--only=') === true) {
      const name = arg === '--only' ? value() : arg.slice('--only='.length);
      if (name === undefined || !benchNames.includes(name)) return `--only takes "proxy", "proxy-watches", "v3" or "mirror", got ${JSON.stringify(name)}`;
      only = name as BenchName;
    } else if (arg === '--profile') profile = 'always';
    else if (arg === '--no-profile') profile = 'never';
    else if (arg === '--profile-out') {
      profileOut = value();
      if (profileOut === undefined) return '--profile-out needs a file name';
    } else return `unknown argument ${JSON.stringify(arg)}`;
  }
  return { profile, ...(only === undefined ? {} : { only }), ...(profileOut === undefined ? {} : { profileOut }) };
}

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseArguments(argv);
  if (typeof parsed === 'string') {
    process.stderr.write(`${parsed}\n${usage}`);
    return 2;
  }
  installCleanupHandlers();
  const runs = (name: BenchName): boolean => parsed.only === undefined || parsed.only === name;
  if (runs('proxy')) {
    const table = await benchProxy({ profile: parsed.profile, ...(parsed.profileOut === undefined ? {} : { profileOut: parsed.profileOut }) });
    process.stdout.write(`${table}\n\n`);
  }
  if (parsed.only === 'proxy-watches') process.stdout.write(`${await benchProxy({ part: 'large-watches' })}\n\n`);
  if (runs('v3')) process.stdout.write(`${await benchV3()}\n\n`);
  if (runs('mirror')) {
    process.stdout.write(`${await benchMirror()}\n\n`);
    process.stdout.write(`${await benchMirrorV3()}\n`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  async (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await cleanUpAll();
    process.exitCode = 1;
  },
);
