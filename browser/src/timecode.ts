// Reads the timecode the server's "timecode" pattern stamps into each frame (32 black or
// white 16x16 blocks along the top edge, milliseconds of the wall clock mod 2^32), for
// publish -> display latency measured where the user looks, whatever the transport.

export const BITS = 32;
export const BLOCK = 16;

/** Decode the code from the luma of each block's centre (0..255), MSB first. */
export function decodeTimecode(lumas: ArrayLike<number>): number {
  let v = 0;
  for (let k = 0; k < BITS; k++) v = v * 2 + (lumas[k] >= 128 ? 1 : 0);
  return v;
}

/** Milliseconds from the stamp to `nowMs`, across the 2^32 wrap. */
export function latencyMs(code: number, nowMs: number): number {
  const now = nowMs % 2 ** 32;
  let d = now - code;
  if (d < -(2 ** 31)) d += 2 ** 32;
  return d;
}
