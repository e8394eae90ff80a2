/**
 * The decoder takes every offset from WIRE_LAYOUT; this checks WIRE_LAYOUT and the exported
 * constants against what the C compiler makes of bpf/include/vigil.h, so a header change that
 * is not mirrored in src/sensor/wire-layout.ts fails here instead of garbling events at run time.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { SYSCALL_COMPAT, SYSCALL_INVALID } from "../../src/sensor/syscall-names.js";
import {
  AUTO_INSTANCE_BIT,
  DROP_REASON_NAMES,
  DropReason,
  EventFlags,
  EventType,
  FrameType,
  NetOp,
  OPEN_FROM_IO_URING,
  WIRE_LAYOUT,
  WIRE_LIMITS,
  WIRE_VERSION,
} from "../../src/sensor/wire-layout.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

type Layout = Record<string, { size: number; fields: Record<string, number> }>;

let dir = "";
let binary = "";

function run(...args: string[]): unknown {
  return JSON.parse(execFileSync(binary, args, { encoding: "utf8" }));
}

describe("wire layout", () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-layout-"));
    binary = join(dir, "layout");
    // No skip when cc is missing: this is the only check that the decoder matches the header.
    try {
      execFileSync(
        "cc",
        [
          "-Wall",
          "-Werror",
          "-I",
          join(ROOT, "bpf/include"),
          "-o",
          binary,
          join(ROOT, "bpf/tests/layout.c"),
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? "";
      throw new Error(
        `cannot compile bpf/tests/layout.c (install gcc or clang and the Linux UAPI headers):\n${stderr}`,
        { cause: e },
      );
    }
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("wire layout - every struct size and field offset matches vigil.h", () => {
    const c = run() as Layout;
    const ts: Layout = WIRE_LAYOUT;
    assert.deepEqual(Object.keys(ts).sort(), Object.keys(c).sort(), "struct names");
    for (const [name, layout] of Object.entries(c)) {
      const mine = ts[name];
      assert.ok(mine, name);
      assert.equal(mine.size, layout.size, `sizeof(struct ${name})`);
      // deepEqual on the whole map names both missing and extra fields, with their offsets.
      assert.deepEqual({ ...mine.fields }, layout.fields, `offsets in struct ${name}`);
    }
  });

  it("wire layout - every constant matches vigil.h", () => {
    const c = run("constants") as Record<string, number>;
    const drops = Object.fromEntries(
      Object.entries(DropReason).map(([k, v]) => [`VIGIL_DROP_${k}`, v]),
    );
    const expected: Record<string, number> = {
      VIGIL_WIRE_VERSION: WIRE_VERSION,
      VIGIL_NGRAM_MAX: WIRE_LIMITS.NGRAM_MAX,
      VIGIL_PATH_MAX: WIRE_LIMITS.PATH_MAX,
      VIGIL_ARGV_MAX: WIRE_LIMITS.ARGV_MAX,
      VIGIL_COMM_LEN: WIRE_LIMITS.COMM_LEN,
      VIGIL_UNIX_PATH_MAX: WIRE_LIMITS.UNIX_PATH_MAX,
      VIGIL_AUTO_INSTANCE_BIT: AUTO_INSTANCE_BIT,
      VIGIL_SYSCALL_LIMIT: WIRE_LIMITS.SYSCALL_LIMIT,
      VIGIL_SYS_INVALID: SYSCALL_INVALID,
      VIGIL_SYS_COMPAT: SYSCALL_COMPAT,
      VIGIL_OPEN_FROM_IO_URING: OPEN_FROM_IO_URING,
      ...Object.fromEntries(Object.entries(EventType).map(([k, v]) => [`VIGIL_EV_${k}`, v])),
      ...Object.fromEntries(Object.entries(EventFlags).map(([k, v]) => [`VIGIL_F_${k}`, v])),
      ...Object.fromEntries(Object.entries(NetOp).map(([k, v]) => [`VIGIL_NET_${k}`, v])),
      ...drops,
      VIGIL_DROP__COUNT: WIRE_LIMITS.DROP_SLOTS,
      ...Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [`VIGIL_FRAME_${k}`, v])),
    };
    assert.deepEqual(c, expected);
    // Array sizes the decoder relies on but that are not named constants in the header.
    const stats = WIRE_LAYOUT.vigil_stats.fields;
    assert.equal((stats.events - stats.drops) / 8, WIRE_LIMITS.DROP_SLOTS);
    const priv = WIRE_LAYOUT.vigil_priv_event;
    assert.equal((priv.size - priv.fields.args) / 8, WIRE_LIMITS.PRIV_ARGS);
    assert.equal(DROP_REASON_NAMES.length, Object.keys(DropReason).length);
    for (const [k, v] of Object.entries(DropReason)) {
      assert.equal(DROP_REASON_NAMES[v], k.toLowerCase(), k);
    }
  });
});
