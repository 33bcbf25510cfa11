import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';

describe('etcd test fixture', () => {
  let etcd: EtcdProcess;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd.stop();
  });

  it('serves the v2 keys API and keeps data across pause and resume', async () => {
    const put = await fetch(`${etcd.clientUrl}/v2/keys/fixture/k`, {
      method: 'PUT',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'value=v1',
    });
    expect(put.status).toBe(201);
    await etcd.pause();
    await etcd.resume();
    const get = await fetch(`${etcd.clientUrl}/v2/keys/fixture/k`);
    const body = (await get.json()) as { node: { value: string } };
    expect(body.node.value).toBe('v1');
  });
});
