// The control floor and presence as this client reads and sends them (src/presence.ts):
// the golden vectors the server encodes, and whatever else arrives normalised or refused.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  controlInfo,
  controlLabel,
  giveControl,
  mayDrive,
  Pacer,
  pointerList,
  presencePointer,
  releaseControl,
  requestControl,
  viewerColour,
  viewerList,
  type ControlInfo,
} from "../src/presence";

const here = dirname(fileURLToPath(import.meta.url));
const fixture = (type: string) =>
  (JSON.parse(readFileSync(join(here, "..", "..", "tests", "fixtures", "server-messages", `${type}.json`), "utf8")) as {
    cases: { name: string; message: Record<string, unknown> }[];
  }).cases;

const EXCLUSIVE: ControlInfo = { mode: "exclusive", holder: "v3", app: false, name: "Alice", waiting: ["v5"], reason: "request", refused: null };

describe("server messages", () => {
  it("control: the golden vectors", () => {
    const [held, shared, byApp, refused] = fixture("control").map((c) => controlInfo(c.message));
    expect(held).toEqual({ mode: "exclusive", holder: "v3", app: false, name: "Alice é", waiting: ["v5", "v7"], reason: "request", refused: null });
    expect(shared?.mode).toBe("shared");
    expect(byApp).toMatchObject({ holder: null, app: true });
    expect(refused?.refused).toBe("view_only");
  });

  it("viewers and pointers: the golden vectors", () => {
    const two = viewerList(fixture("viewers")[0].message);
    expect(two).toEqual({
      pointers: true,
      viewers: [
        { clientId: "v3", name: "Alice é", transport: "websocket", role: "drive", control: true },
        { clientId: "v4", name: null, transport: "webrtc", role: "view", control: false },
      ],
    });
    expect(pointerList(fixture("pointers")[0].message)).toEqual([
      { clientId: "v3", x: 12.2, y: 40, inside: true },
      { clientId: "v4", x: -3, y: 7.5, inside: false },
    ]);
  });

  it("anything else is normalised or refused, never thrown", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom("mode", "holder", "waiting", "viewers", "pointers", "name", "app"), fc.anything()), (m) => {
        const c = controlInfo(m);
        if (c) {
          expect(["shared", "exclusive"]).toContain(c.mode);
          expect(c.waiting.every((w) => typeof w === "string")).toBe(true);
        }
        const v = viewerList(m);
        if (v) expect(v.viewers.every((e) => typeof e.clientId === "string" && (e.role === "drive" || e.role === "view"))).toBe(true);
        for (const p of pointerList(m)) expect(Number.isFinite(p.x) && Number.isFinite(p.y)).toBe(true);
      }),
    );
  });
});

describe("the floor, client side", () => {
  it("sends input only where the server would take it", () => {
    expect(mayDrive(null, null, "pointer_down")).toBe(true);
    expect(mayDrive({ ...EXCLUSIVE, mode: "shared" }, "v4", "key_down")).toBe(true);
    expect(mayDrive(EXCLUSIVE, "v3", "pointer_move")).toBe(true);
    expect(mayDrive(EXCLUSIVE, "v4", "pointer_move")).toBe(false);
    expect(mayDrive(EXCLUSIVE, "v4", "key_up")).toBe(true); // releases always go
    const free = { ...EXCLUSIVE, holder: null };
    expect(mayDrive(free, "v4", "pointer_down")).toBe(true); // a first click may take it
    expect(mayDrive(free, "v4", "pointer_move")).toBe(false);
    expect(mayDrive({ ...free, app: true }, "v4", "pointer_down")).toBe(false);
  });

  it("labels who holds it", () => {
    expect(controlLabel(EXCLUSIVE, "v3")).toBe("You have control");
    expect(controlLabel(EXCLUSIVE, "v4")).toBe("Alice has control");
    expect(controlLabel({ ...EXCLUSIVE, holder: null }, "v4")).toBe("Nobody has control");
    expect(controlLabel({ ...EXCLUSIVE, holder: null, app: true }, "v4")).toBe("The application has control");
    expect(controlLabel({ ...EXCLUSIVE, mode: "shared" }, "v4")).toBe("");
    expect(viewerColour("v3")).toBe(viewerColour("v3"));
  });

  it("builds the messages the server parses", () => {
    expect(JSON.parse(requestControl())).toEqual({ type: "request_control" });
    expect(JSON.parse(releaseControl())).toEqual({ type: "release_control" });
    expect(JSON.parse(giveControl("v9"))).toEqual({ type: "give_control", client_id: "v9" });
    expect(JSON.parse(presencePointer(1.234, 5, true))).toEqual({ type: "presence", x: 1.2, y: 5 });
    expect(JSON.parse(presencePointer(1, 5, false))).toEqual({ type: "presence", x: 1, y: 5, inside: false });
  });
});

describe("Pacer", () => {
  it("sends the newest value at most hz times a second", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer()), { maxLength: 200 }), (steps) => {
        const pace = new Pacer<number>(15);
        let now = 0;
        const sent: number[] = [];
        let last: number | null = null;
        for (const [dt, v] of steps) {
          now += dt;
          pace.offer(v);
          last = v;
          const out = pace.take(now);
          if (out !== null) sent.push(now);
        }
        for (let i = 1; i < sent.length; i++) expect(sent[i] - sent[i - 1]).toBeGreaterThanOrEqual(1000 / 15 - 1e-9);
        // whatever is still waiting is the newest value
        const due = pace.dueIn(now);
        if (due !== null) expect(pace.take(now + due)).toBe(last);
      }),
    );
  });
});
