// Files both ways (files.ts): the upload's pacing, the download's assembly, the messages.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cleanName,
  DownloadAssembler,
  FILE_CHUNK,
  FILE_WINDOW,
  fileAck,
  fileCancel,
  fileOffer,
  formatBytes,
  IdSource,
  packFileChunk,
  parseFileOffer,
  UploadPacer,
  uploadMessage,
} from "../src/files";
import { unpackEnvelope } from "../src/protocol";

describe("upload pacing", () => {
  it("sends at most a window ahead of the acks, in order, then the rest", () => {
    expect(new UploadPacer(1).window).toBe(FILE_WINDOW);
    const p = new UploadPacer(10 * FILE_CHUNK + 5, 8 * FILE_CHUNK);
    const first: number[] = [];
    for (let c = p.next(); c; c = p.next()) first.push(c.offset);
    expect(first).toEqual([...Array(8).keys()].map((i) => i * FILE_CHUNK));
    expect(p.blockedByWindow).toBe(true);
    p.ack(3 * FILE_CHUNK);
    const more: { offset: number; length: number }[] = [];
    for (let c = p.next(); c; c = p.next()) more.push(c);
    expect(more).toEqual([
      { offset: 8 * FILE_CHUNK, length: FILE_CHUNK },
      { offset: 9 * FILE_CHUNK, length: FILE_CHUNK },
      { offset: 10 * FILE_CHUNK, length: 5 },
    ]);
    expect(p.allSent).toBe(true);
  });

  it("waits while the link buffers more than it should", () => {
    const p = new UploadPacer(5 * FILE_CHUNK);
    expect(p.next(10 * FILE_CHUNK)).toBeNull();
    expect(p.blockedByWindow).toBe(false);
    expect(p.next(0)).toEqual({ offset: 0, length: FILE_CHUNK });
  });

  it("ignores acks that go back or past what was sent", () => {
    const p = new UploadPacer(100, 1000, 10);
    p.next();
    p.ack(50);
    expect(p.acked).toBe(10);
    p.ack(5);
    p.ack(Number.NaN);
    expect(p.acked).toBe(10);
  });

  it("covers the file exactly, whatever the size, window and chunk", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300_000 }), fc.integer({ min: 1, max: 1e5 }), fc.integer({ min: 512, max: 70_000 }), (size, window, chunk) => {
        const p = new UploadPacer(size, window, chunk);
        let at = 0;
        for (;;) {
          const c = p.next();
          if (!c) {
            if (p.allSent) break;
            p.ack(p.sent); // the server caught up
            continue;
          }
          expect(c.offset).toBe(at);
          expect(c.length).toBeGreaterThan(0);
          expect(c.length).toBeLessThanOrEqual(chunk);
          expect(p.sent - p.acked).toBeLessThanOrEqual(Math.max(window, chunk) + chunk);
          at += c.length;
        }
        expect(at).toBe(size);
      }),
    );
  });
});

describe("download assembly", () => {
  it("gathers chunks in order into the whole file", async () => {
    const d = new DownloadAssembler(3, "a.csv", 5, "text/csv");
    expect(d.push(0, new Uint8Array([1, 2]))).toBe(true);
    expect(d.complete).toBe(false);
    expect(d.push(2, new Uint8Array([3, 4, 5]))).toBe(true);
    expect(d.complete).toBe(true);
    const f = d.file();
    expect(f).toMatchObject({ name: "a.csv", mime: "text/csv", size: 5 });
    expect([...new Uint8Array(await f.data.arrayBuffer())]).toEqual([1, 2, 3, 4, 5]);
  });

  it("refuses a chunk out of order or past the size offered", () => {
    const d = new DownloadAssembler(1, "a", 4, "x");
    expect(d.push(1, new Uint8Array([1]))).toBe(false); // a gap
    expect(d.push(0, new Uint8Array(5))).toBe(false); // past the size
    expect(d.push(0, new Uint8Array(2))).toBe(true);
    expect(d.push(0, new Uint8Array(2))).toBe(false); // repeated
    expect(d.received).toBe(2);
  });

  it("reads only well-formed offers, and cleans their names", () => {
    expect(parseFileOffer({ type: "file_offer", id: 1, name: "../../x/report.csv", size: 3, mime: "text/csv" })).toEqual({
      id: 1,
      name: "report.csv",
      size: 3,
      mime: "text/csv",
    });
    expect(parseFileOffer({ type: "file_offer", id: 1, name: "a", size: -1 })).toBeNull();
    expect(parseFileOffer({ type: "file_offer", id: 1.5, name: "a", size: 1 })).toBeNull();
    expect(parseFileOffer({ type: "file_offer", id: 1, name: 7, size: 1 })).toBeNull();
    expect(parseFileOffer({ type: "file_offer", id: 1, name: "a", size: 1 })?.mime).toBe("application/octet-stream");
  });
});

describe("file messages", () => {
  it("build what the server parses", () => {
    expect(JSON.parse(fileOffer(7, "C:\\docs\\plan.pdf", 12, "application/pdf"))).toEqual({
      type: "file_offer",
      id: 7,
      name: "plan.pdf",
      size: 12,
      mime: "application/pdf",
    });
    expect(JSON.parse(fileCancel(7))).toEqual({ type: "file_cancel", id: 7 });
    expect(JSON.parse(fileCancel(8, true))).toEqual({ type: "file_cancel", id: 8, download: true });
    expect(JSON.parse(fileAck(8, 100))).toEqual({ type: "file_ack", id: 8, received: 100 });
  });

  it("frame a chunk as the server's envelope, within 64 KiB", () => {
    const data = new Uint8Array(FILE_CHUNK).fill(7);
    const packed = packFileChunk(2 ** 31 - 1, 2 ** 40, data);
    expect(packed.byteLength).toBeLessThanOrEqual(64 * 1024);
    const { header, payload } = unpackEnvelope(packed);
    expect(header).toEqual({ type: "file_chunk", id: 2 ** 31 - 1, offset: 2 ** 40 });
    expect(payload).toEqual(data);
  });

  it("names are at most 255 characters, without control characters or a path", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (name) => {
        const c = cleanName(name);
        expect(Array.from(c).length).toBeLessThanOrEqual(255);
        expect(c).not.toMatch(/[/\\\u0000-\u001f\u007f]/);
        expect(c.length).toBeGreaterThan(0);
      }),
    );
  });

  it("ids count from 1 and wrap below 2^31", () => {
    const ids = new IdSource();
    expect([ids.next(), ids.next()]).toEqual([1, 2]);
  });

  it("say why an upload was refused", () => {
    expect(uploadMessage("a.bin", "refused", "too_big", 32 * 1024 * 1024)).toBe("a.bin is too big to upload (the limit is 32 MiB)");
    expect(uploadMessage("a.bin", "refused", "view_only")).toBe("a.bin not uploaded: this view may only watch");
    expect(uploadMessage("a.bin", "refused", "disabled")).toContain("does not accept files");
    expect(uploadMessage("a.bin", "failed", "timeout")).toBe("a.bin upload failed (timeout)");
    expect(uploadMessage("a.bin", "done")).toBe("a.bin uploaded");
    expect(formatBytes(1536)).toBe("1.5 KiB");
  });
});
