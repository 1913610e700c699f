import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { CloseCode, FINAL_CLOSE_CODES } from "../src/close-codes";

const here = dirname(fileURLToPath(import.meta.url));

it("mirrors the Python server's close codes exactly", () => {
  const python = JSON.parse(readFileSync(join(here, "fixtures", "close-codes.json"), "utf8"));
  expect(CloseCode).toEqual(python);
});

it("treats only refusals that retrying cannot heal as final", () => {
  expect([...FINAL_CLOSE_CODES].sort()).toEqual([1003, 4401, 4404]);
  expect(FINAL_CLOSE_CODES.has(CloseCode.TRY_AGAIN_LATER)).toBe(false);
  expect(FINAL_CLOSE_CODES.has(CloseCode.GOING_AWAY)).toBe(false);
});
