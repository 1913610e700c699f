import { describe, expect, it } from "vitest";
import { backingSize, canvasToFrame, frameToCanvas, layout, type Fit } from "../src/geometry";

const FITS: Fit[] = ["contain", "cover", "fill"];

describe("layout", () => {
  it("contain letterboxes a wide frame in a tall canvas", () => {
    expect(layout(1280, 720, 800, 800, "contain")).toEqual({ x: 0, y: 175, w: 800, h: 450 });
  });
  it("contain pillarboxes a tall frame", () => {
    expect(layout(100, 200, 400, 200, "contain")).toEqual({ x: 150, y: 0, w: 100, h: 200 });
  });
  it("cover overflows and centres", () => {
    expect(layout(1280, 720, 800, 800, "cover")).toEqual({ x: -(1422.2222222222222 - 800) / 2, y: 0, w: 1422.2222222222222, h: 800 });
  });
  it("fill stretches", () => {
    expect(layout(1280, 720, 800, 800, "fill")).toEqual({ x: 0, y: 0, w: 800, h: 800 });
  });
});

describe("canvas <-> frame", () => {
  const cases: [number, number, number, number][] = [
    [1280, 720, 800, 800],
    [640, 480, 1920, 1080],
    [333, 777, 500, 301],
    [1920, 1080, 1920, 1080],
  ];
  for (const fit of FITS) {
    for (const [fw, fh, cw, ch] of cases) {
      it(`round-trips points for ${fit} ${fw}x${fh} on ${cw}x${ch}`, () => {
        const l = layout(fw, fh, cw, ch, fit);
        for (const [fx, fy] of [[0, 0], [fw / 2, fh / 3], [fw - 1, fh - 1], [10.5, 20.25]]) {
          const c = frameToCanvas(fx, fy, fw, fh, l);
          const back = canvasToFrame(c.x, c.y, fw, fh, l);
          expect(back.x).toBeCloseTo(fx, 9);
          expect(back.y).toBeCloseTo(fy, 9);
          expect(back.inside).toBe(true);
        }
      });
    }
  }

  it("marks letterbox padding as outside", () => {
    const l = layout(1280, 720, 800, 800, "contain"); // bars above y=175 and below y=625
    const top = canvasToFrame(400, 100, 1280, 720, l);
    expect(top.inside).toBe(false);
    expect(top.y).toBeLessThan(0);
    const centre = canvasToFrame(400, 400, 1280, 720, l);
    expect(centre).toEqual({ x: 640, y: 360, inside: true });
    expect(canvasToFrame(400, 700, 1280, 720, l).inside).toBe(false);
  });

  it("maps the canvas corners under cover beyond the frame only where cropped", () => {
    const l = layout(1280, 720, 800, 800, "cover");
    const left = canvasToFrame(0, 400, 1280, 720, l);
    expect(left.x).toBeGreaterThan(0); // the frame's left edge is cropped away
    expect(left.inside).toBe(true);
  });
});

describe("backingSize", () => {
  it("multiplies by the device-pixel ratio", () => {
    expect(backingSize(640, 360, 2, 4096)).toEqual({ width: 1280, height: 720, ratio: 2 });
    expect(backingSize(640, 360, 1.5, 4096)).toEqual({ width: 960, height: 540, ratio: 1.5 });
  });
  it("caps the larger side at maxBackingDimension", () => {
    const b = backingSize(3000, 1000, 2, 4096);
    expect(b.width).toBe(4096);
    expect(b.height).toBe(1365);
    expect(b.ratio).toBeCloseTo(4096 / 3000, 9);
  });
  it("never returns zero", () => {
    expect(backingSize(0, 0, 1, 4096)).toEqual({ width: 1, height: 1, ratio: 1 });
  });
});
