/**
 * WebSocket close codes the rfb server sends: the mirror of rfb.protocol.CloseCode
 * (tests/close-codes.test.ts checks it against the fixture the Python side writes).
 */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001, // the server is shutting down
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  TOO_BIG: 1009,
  TRY_AGAIN_LATER: 1013, // the server is full: retrying later may work
  UNAUTHORIZED: 4401,
  UNKNOWN_PATH: 4404,
} as const;

/** Closes that retrying does not heal: a refused token, no shared format, no such stream. */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.UNAUTHORIZED,
  CloseCode.UNSUPPORTED_DATA,
  CloseCode.UNKNOWN_PATH,
]);
