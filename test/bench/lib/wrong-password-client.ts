// Entry point run as its own process by wrong-password-flood.ts: PUTs with a
// fresh wrong password each time, so the server pays a full hash check for
// every one (nothing to remember). etcd-warden slows a client address down
// after 10 failures a minute, which would turn the flood into cheap 429s;
// the flood therefore moves to a new loopback source address (127.0.0.0/8 is
// all ours) before that, measuring the worst case: a spray from many hosts.
import { randomBytes } from 'node:crypto';
import https from 'node:https';

export interface FloodPlan {
  readonly url: string;
  readonly user: string;
  readonly connections: number;
  readonly seconds: number;
  /** Requests sent from one source address before moving to the next. */
  readonly perAddress: number;
}

export interface FloodReport {
  readonly requests: number;
  readonly statuses: Record<string, number>;
  readonly addressesUsed: number;
}

function loopbackAddress(n: number): string {
  // 127.1.0.1 onwards; skip .0 and .255 in the last octet.
  const host = 1 + (n % 254);
  const rest = Math.floor(n / 254);
  return `127.${1 + Math.floor(rest / 256) % 254}.${rest % 256}.${host}`;
}

async function wrongPasswordPut(agent: https.Agent, url: URL, user: string, localAddress: string): Promise<string> {
  const authorization = `Basic ${Buffer.from(`${user}:wrong-${randomBytes(6).toString('hex')}`).toString('base64')}`;
  return new Promise((resolve) => {
    const request = https.request(url, {
      method: 'PUT',
      agent,
      localAddress,
      rejectUnauthorized: false,
      timeout: 30_000,
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', 'content-length': '7' },
    });
    request.once('timeout', () => request.destroy(new Error('timeout')));
    request.once('error', (error) => resolve(`error:${(error as NodeJS.ErrnoException).code ?? error.message}`));
    request.once('response', (response) => {
      response.resume();
      response.once('end', () => resolve(String(response.statusCode)));
      response.once('error', () => resolve('error:response'));
    });
    request.end('value=x');
  });
}

async function flood(plan: FloodPlan): Promise<FloodReport> {
  const url = new URL(plan.url);
  const end = Date.now() + plan.seconds * 1000;
  const statuses: Record<string, number> = {};
  let requests = 0;
  let nextAddress = 0;
  const connection = async (): Promise<void> => {
    while (Date.now() < end) {
      const localAddress = loopbackAddress(nextAddress++);
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < plan.perAddress && Date.now() < end; i++) {
        const status = await wrongPasswordPut(agent, url, plan.user, localAddress);
        statuses[status] = (statuses[status] ?? 0) + 1;
        requests++;
      }
      agent.destroy();
    }
  };
  await Promise.all(Array.from({ length: plan.connections }, () => connection()));
  return { requests, statuses, addressesUsed: nextAddress };
}

const planText = process.argv[2];
if (planText === undefined) {
  process.stderr.write('usage: wrong-password-client.js PLAN_JSON\n');
  process.exitCode = 2;
} else {
  const report = await flood(JSON.parse(planText) as FloodPlan);
  process.stdout.write(JSON.stringify(report) + '\n');
}
