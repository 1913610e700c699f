// Frame <-> canvas geometry for every fit mode. Used by drawing and by input mapping,
// so what the user clicks is exactly what was drawn there.

export type Fit = "contain" | "cover" | "fill";

/** Where the frame is drawn on the canvas, in backing (device) pixels. */
export interface Layout {
  x: number;
  y: number;
  w: number;
  h: number;
}

export function layout(frameW: number, frameH: number, canvasW: number, canvasH: number, fit: Fit): Layout {
  if (fit === "fill" || frameW <= 0 || frameH <= 0) return { x: 0, y: 0, w: canvasW, h: canvasH };
  const sx = canvasW / frameW;
  const sy = canvasH / frameH;
  const s = fit === "contain" ? Math.min(sx, sy) : Math.max(sx, sy);
  const w = frameW * s;
  const h = frameH * s;
  return { x: (canvasW - w) / 2, y: (canvasH - h) / 2, w, h };
}

/** A canvas point (backing pixels) as frame pixels; `inside` is false in letterbox bars. */
export function canvasToFrame(
  px: number,
  py: number,
  frameW: number,
  frameH: number,
  l: Layout,
): { x: number; y: number; inside: boolean } {
  const x = ((px - l.x) * frameW) / l.w;
  const y = ((py - l.y) * frameH) / l.h;
  const inside = x >= 0 && y >= 0 && x < frameW && y < frameH;
  return { x, y, inside };
}

export function frameToCanvas(fx: number, fy: number, frameW: number, frameH: number, l: Layout): { x: number; y: number } {
  return { x: l.x + (fx * l.w) / frameW, y: l.y + (fy * l.h) / frameH };
}

/**
 * The canvas backing size for a CSS size and device-pixel ratio, scaled down so that
 * neither side exceeds maxDim. `ratio` is backing pixels per CSS pixel.
 */
export function backingSize(
  cssW: number,
  cssH: number,
  dpr: number,
  maxDim: number,
): { width: number; height: number; ratio: number } {
  // A finite ratio only: an Infinity DPR (opts.devicePixelRatio) made Infinity * 0 = NaN sizes.
  let ratio = Number.isFinite(dpr) && dpr > 0 ? dpr : 1;
  const biggest = Math.max(cssW, cssH);
  // maxDim / biggest, not ratio * maxDim / (biggest * ratio): that product can overflow to
  // Infinity for a huge DPR and turn the ratio into 0.
  if (maxDim > 0 && biggest * ratio > maxDim) ratio = maxDim / biggest;
  return {
    width: Math.max(1, Math.round(cssW * ratio)),
    height: Math.max(1, Math.round(cssH * ratio)),
    ratio,
  };
}
