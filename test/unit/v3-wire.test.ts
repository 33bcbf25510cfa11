import { describe, expect, it } from 'vitest';
import { GrpcCode } from '../../mirror/etcd/v3/errors.js';
import { chooseProtocol } from '../../proxy/v3/alpn.js';
import { encodeFrame, RequestFrameReader, ResponseFrameCursor } from '../../proxy/v3/frames.js';
import { encodeGrpcMessage } from '../../proxy/v3/grpc-relay.js';
import { TokenIssuer } from '../../proxy/v3/token.js';

describe('v3 tokens', () => {
  function issuer(hashes: Map<string, string>, clock: { now: number }): TokenIssuer {
    return new TokenIssuer({ currentHash: (user) => hashes.get(user), ttlMs: () => 300_000, now: () => clock.now, maxTokens: 3 });
  }

  it('names the user it was issued to, and lives 300 s from its last use, as etcd\'s simple tokens do', () => {
    const clock = { now: 0 };
    const tokens = issuer(new Map([['alice', 'h1']]), clock);
    const token = tokens.issue('alice');
    clock.now = 299_000;
    expect(tokens.verify(token)).toBe('alice');
    clock.now = 598_000;
    expect(tokens.verify(token)).toBe('alice');
    clock.now = 898_001;
    expect(tokens.verify(token)).toBeUndefined();
  });

  it('cannot be edited to name another user', () => {
    const tokens = issuer(new Map([['alice', 'h1'], ['root', 'h2']]), { now: 0 });
    const [, nonce, mac] = tokens.issue('alice').split('.');
    expect(tokens.verify(`${Buffer.from('root').toString('base64url')}.${nonce}.${mac}`)).toBeUndefined();
  });

  it('dies when the user\'s password changes or the user is removed', () => {
    const hashes = new Map([['alice', 'h1']]);
    const tokens = issuer(hashes, { now: 0 });
    const token = tokens.issue('alice');
    hashes.set('alice', 'h1-new');
    expect(tokens.verify(token)).toBeUndefined();
    hashes.set('alice', 'h1');
    expect(tokens.verify(token)).toBe('alice');
    hashes.delete('alice');
    expect(tokens.verify(token)).toBeUndefined();
  });

  it('remembers a bounded number of tokens, the least recently used going first', () => {
    const tokens = issuer(new Map([['alice', 'h1']]), { now: 0 });
    const first = tokens.issue('alice');
    for (let i = 0; i < 3; i++) tokens.issue('alice');
    expect(tokens.verify(first)).toBeUndefined();
    expect(tokens.liveTokens).toBe(3);
  });

  it('a token from another process (another secret) is not valid here', () => {
    const hashes = new Map([['alice', 'h1']]);
    const other = issuer(hashes, { now: 0 }).issue('alice');
    expect(issuer(hashes, { now: 0 }).verify(other)).toBeUndefined();
    expect(issuer(hashes, { now: 0 }).verify('garbage')).toBeUndefined();
  });
});

describe('gRPC framing', () => {
  it('cuts messages out of chunks split anywhere', () => {
    const frames = Buffer.concat([encodeFrame(Buffer.from('first')), encodeFrame(Buffer.alloc(0)), encodeFrame(Buffer.from('third message'))]);
    const reader = new RequestFrameReader(100);
    const messages: string[] = [];
    for (let i = 0; i < frames.length; i += 3) {
      const read = reader.push(frames.subarray(i, i + 3));
      if (read instanceof Error) throw read;
      messages.push(...read.map((m) => m.toString()));
    }
    expect(messages).toEqual(['first', '', 'third message']);
    expect(reader.pendingBytes).toBe(0);
  });

  it('refuses compressed messages and messages over the bound, before reading them', () => {
    const compressed = encodeFrame(Buffer.from('x'));
    compressed[0] = 1;
    expect(new RequestFrameReader(100).push(compressed)).toMatchObject({ code: GrpcCode.Unimplemented });
    const header = Buffer.from([0, 0, 0x10, 0, 0]);
    expect(new RequestFrameReader(100).push(header)).toMatchObject({ code: GrpcCode.ResourceExhausted, message: 'grpc: received message larger than max (1048576 vs. 100)' });
  });

  it('finds where response messages end, without holding them', () => {
    const frames = Buffer.concat([encodeFrame(Buffer.from('ab')), encodeFrame(Buffer.from('cde'))]);
    const cursor = new ResponseFrameCursor();
    expect(cursor.boundariesIn(frames.subarray(0, 4))).toEqual([]);
    expect(cursor.atBoundary).toBe(false);
    expect(cursor.boundariesIn(frames.subarray(4, 10))).toEqual([3]);
    expect(cursor.boundariesIn(frames.subarray(10))).toEqual([5]);
    expect(cursor.atBoundary).toBe(true);
  });

  it('percent-encodes grpc-message as gRPC requires', () => {
    expect(encodeGrpcMessage('etcdserver: permission denied')).toBe('etcdserver: permission denied');
    expect(encodeGrpcMessage('100% é\n')).toBe('100%25 %C3%A9%0A');
  });
});

describe('which server gets a TLS connection', () => {
  it.each<[string, string[], string | undefined]>([
    ['gRPC clients offer only h2 (grpc-go, grpc-js)', ['h2'], 'h2'],
    ['grpcio offers grpc-exp first', ['grpc-exp', 'h2'], 'h2'],
    ['curl and Go\'s net/http offer both: v2 stays on HTTP/1.1', ['h2', 'http/1.1'], 'http/1.1'],
    ['HTTP/1.1 only', ['http/1.1'], 'http/1.1'],
    ['nothing we speak', ['spdy/3'], undefined],
  ])('%s', (_name, offered, chosen) => {
    expect(chooseProtocol(offered)).toBe(chosen);
  });
});
