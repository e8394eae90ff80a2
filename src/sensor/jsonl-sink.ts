/**
 * Writes window records as JSON lines to a file (appending) or to stdout. Honours back-pressure,
 * so a slow disk slows the sensor's output instead of growing its memory.
 */
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import type { Writable } from "node:stream";
import type { WindowRecord } from "../contracts/window.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { WindowSink } from "./sensor.js";

export class JsonlSink implements WindowSink {
  private constructor(
    private readonly stream: Writable,
    private readonly owned: boolean,
  ) {}

  /** `spec` is "jsonl:-" (stdout) or "jsonl:<path>". */
  static async open(spec: string, stdout: Writable = process.stdout): Promise<JsonlSink> {
    if (!spec.startsWith("jsonl:") || spec.length === "jsonl:".length) {
      throw new VigilError(ErrorCodes.USAGE, `unknown output "${spec}"`, {
        hint: 'use "jsonl:-" for stdout or "jsonl:/path/to/windows.jsonl"',
      });
    }
    const target = spec.slice("jsonl:".length);
    if (target === "-") return new JsonlSink(stdout, false);
    await mkdir(dirname(target), { recursive: true });
    const stream = createWriteStream(target, { flags: "a" });
    await new Promise<void>((resolve, reject) => {
      stream.once("open", () => resolve());
      stream.once("error", (cause) =>
        reject(new VigilError(ErrorCodes.OUTPUT, `cannot open ${target} for writing`, { cause })),
      );
    });
    return new JsonlSink(stream, true);
  }

  async write(records: readonly WindowRecord[]): Promise<void> {
    let text = "";
    for (const r of records) text += `${JSON.stringify(r)}\n`;
    if (!this.stream.write(text)) {
      await new Promise<void>((resolve) => this.stream.once("drain", () => resolve()));
    }
  }

  async close(): Promise<void> {
    if (!this.owned) return;
    await new Promise<void>((resolve) => this.stream.end(() => resolve()));
  }
}
