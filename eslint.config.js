// Lint: typescript-eslint's recommended rules, and the house's boundaries as
// no-restricted-imports (the import graph the README draws):
// - the shared leaf mirror/etcd/ imports nothing of proxy/, config/, bin/ or
//   the rest of mirror/; config/ imports only the leaf; proxy/ and mirror/
//   meet only in the leaf (the bundled mirror is wired in bin/commands/);
// - the pure decision modules import no transport (undici,
//   node:http/https/http2), so each stays testable on a table without a server.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const outsideTheLeaf = { regex: '^\\.\\./', message: 'mirror/etcd/ is the shared leaf: it imports nothing of the programs or config/.' };
const outsideTheLeafFromV3 = { regex: '^\\.\\./\\.\\./', message: 'mirror/etcd/ is the shared leaf: it imports nothing of the programs or config/.' };
const commands = { regex: '(^|/)bin/', message: 'Nothing imports the commands: bin/ is the top floor.' };
const mirrorInsides = { regex: '(^|/)mirror/(?!etcd/)', message: 'Only the shared leaf mirror/etcd/ is shared; the bundled mirror is wired in bin/commands/.' };
const proxyFromOutside = { regex: '(^|/)proxy/', message: 'proxy/ is a program: share through mirror/etcd/ instead.' };
const configFromMirror = { regex: '(^|/)config/', message: 'The mirror takes typed options (mirror/options.ts), not the proxy config.' };

const transport = ['undici', 'node:http', 'node:https', 'node:http2', 'http', 'https', 'http2'].map((name) => ({
  name,
  message: 'A decision module is pure: no transport, so a unit table can test it without a server.',
}));

/** The boundaries of each room, and the pure decision modules in it. */
const rooms = [
  { files: ['proxy/**/*.ts'], patterns: [mirrorInsides, commands], pure: [
    'proxy/decide.ts', 'proxy/gate.ts', 'proxy/acl.ts', 'proxy/readonly.ts', 'proxy/endpoints.ts', 'proxy/request.ts', 'proxy/path.ts', 'proxy/limits.ts', 'proxy/staleness.ts', 'proxy/authenticate.ts', 'proxy/errors.ts',
    // v3: what a call needs, the decision, the messages and the gateway's reading of a body, the tokens, who the caller is.
    'proxy/v3/requirements.ts', 'proxy/v3/decide.ts', 'proxy/v3/key-acl.ts', 'proxy/v3/message.ts', 'proxy/v3/methods.ts', 'proxy/v3/frames.ts',
    'proxy/v3/gateway.ts', 'proxy/v3/gateway-json.ts', 'proxy/v3/gateway-message.ts', 'proxy/v3/token.ts', 'proxy/v3/credentials.ts', 'proxy/v3/access.ts',
  ] },
  { files: ['config/**/*.ts'], patterns: [mirrorInsides, proxyFromOutside, commands], pure: ['config/schema.ts', 'config/field-reader.ts'] },
  { files: ['mirror/**/*.ts'], patterns: [proxyFromOutside, configFromMirror, commands], pure: ['mirror/apply.ts', 'mirror/resync.ts', 'mirror/key-mapping.ts', 'mirror/pipeline.ts', 'mirror/index-key.ts', 'mirror/verify-differences.ts'] },
  { files: ['mirror/etcd/*.ts'], patterns: [outsideTheLeaf], pure: ['mirror/etcd/keys.ts', 'mirror/etcd/types.ts', 'mirror/etcd/wire-error.ts'] },
  { files: ['mirror/etcd/v3/**/*.ts'], patterns: [outsideTheLeafFromV3], pure: ['mirror/etcd/v3/key-range.ts', 'mirror/etcd/v3/errors.ts'] },
  { files: ['bin/**/*.ts'], patterns: [], pure: ['bin/commands/health-assess.ts', 'bin/commands/switchover-plan.ts', 'bin/commands/prometheus-text.ts'] },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      // `typeof import(…)` stays allowed: tests load the compiled tree that way.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // A later block replaces an earlier one's options for the same rule, so
  // each room's block comes before its pure modules', which repeat its patterns.
  ...rooms.flatMap(({ files, patterns, pure }) => [
    { files, rules: { 'no-restricted-imports': ['error', { patterns }] } },
    ...(pure.length === 0 ? [] : [{ files: pure, rules: { 'no-restricted-imports': ['error', { paths: transport, patterns }] } }]),
  ]),
  {
    // Expected output is aligned in columns; a regex says so with its spaces.
    files: ['test/**/*.ts'],
    rules: { 'no-regex-spaces': 'off' },
  },
);
