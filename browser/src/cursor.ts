// The application's cursor (display.set_cursor) as a CSS `cursor` value.

/** CSS cursor keywords the server accepts (rfb/notices.py CURSORS). */
const NAMES = new Set(
  ("auto default none context-menu help pointer progress wait cell crosshair text vertical-text alias copy move no-drop " +
    "not-allowed grab grabbing all-scroll col-resize row-resize n-resize e-resize s-resize w-resize ne-resize nw-resize " +
    "se-resize sw-resize ew-resize ns-resize nesw-resize nwse-resize zoom-in zoom-out").split(" "),
);
const DATA_URL = /^data:image\/(png|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=]+$/;

/** `name`, or `url(image) x y, name` for an image cursor; anything unexpected is "default"
 * (a value from the network never reaches CSS unchecked). */
export function cssCursor(name: string, image?: string, hotspot?: [number, number]): string {
  const fallback = NAMES.has(name) ? name : "default";
  if (image === undefined || !DATA_URL.test(image)) return fallback;
  const [x, y] = hotspot ?? [0, 0];
  const ok = (v: number) => Number.isInteger(v) && v >= 0 && v <= 1024;
  const at = ok(x) && ok(y) ? ` ${x} ${y}` : "";
  return `url("${image}")${at}, ${fallback}`;
}
