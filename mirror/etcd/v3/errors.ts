// gRPC statuses with etcd's own messages (api/v3rpc/rpctypes/error.go).
// etcd's clients map errors by message text (clientv3's errStringToError,
// the Node etcd3 client's castGrpcErrorMessage), so an error we answer in
// etcd's words is raised as the exception the client already handles: an
// "invalid auth token" makes etcd3 and clientv3 authenticate again.

/** gRPC status codes (grpc/codes). */
export const GrpcCode = {
  Ok: 0,
  Cancelled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;

export type GrpcCodeNumber = (typeof GrpcCode)[keyof typeof GrpcCode];

export class EtcdGrpcError extends Error {
  constructor(
    readonly code: GrpcCodeNumber,
    message: string,
  ) {
    super(message);
    this.name = 'EtcdGrpcError';
  }
}

export const etcdMessages = {
  permissionDenied: 'etcdserver: permission denied',
  authFailed: 'etcdserver: authentication failed, invalid user ID or password',
  invalidAuthToken: 'etcdserver: invalid auth token',
  userEmpty: 'etcdserver: user name is empty',
  tooManyRequests: 'etcdserver: too many requests',
  requestTooLarge: 'etcdserver: request is too large',
  leaseNotFound: 'etcdserver: requested lease not found',
  compacted: 'etcdserver: mvcc: required revision has been compacted',
} as const;

export const permissionDenied = (): EtcdGrpcError => new EtcdGrpcError(GrpcCode.PermissionDenied, etcdMessages.permissionDenied);
export const authFailed = (): EtcdGrpcError => new EtcdGrpcError(GrpcCode.InvalidArgument, etcdMessages.authFailed);
export const invalidAuthToken = (): EtcdGrpcError => new EtcdGrpcError(GrpcCode.Unauthenticated, etcdMessages.invalidAuthToken);
export const userEmpty = (): EtcdGrpcError => new EtcdGrpcError(GrpcCode.InvalidArgument, etcdMessages.userEmpty);
export const tooManyRequests = (): EtcdGrpcError => new EtcdGrpcError(GrpcCode.ResourceExhausted, etcdMessages.tooManyRequests);

/** A status code as read off the wire: anything outside 0..16 is Unknown, as gRPC says. */
export function grpcCodeOf(value: number): GrpcCodeNumber {
  const known: readonly number[] = Object.values(GrpcCode);
  return known.includes(value) ? (value as GrpcCodeNumber) : GrpcCode.Unknown;
}
