import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createAutoencoderFamily } from "../../training/families/autoencoder.js";
import type { TraceFamily } from "../../training/families/family.js";
import { createNextSyscallFamily } from "../../training/families/next-syscall.js";
import { prng } from "../../training/util.js";

const FILE_IO = ["open", "fstat64", "read", "read", "close"];
const SERVER = ["poll", "recv", "write", "send", "poll"];
const ATTACK = ["execve", "socket", "connect", "dup2", "dup2", "setuid", "close", "execve"];

/** A normal trace: one of two patterns repeated, with a few seeded brk/mmap2 inserted. */
function normalTrace(random: () => number, kind: number): string[] {
  const pattern = kind === 0 ? FILE_IO : SERVER;
  const trace = ["brk", "mmap2"];
  const repeats = 8 + Math.floor(random() * 8);
  for (let r = 0; r < repeats; r++) {
    trace.push(...pattern);
    if (random() < 0.3) trace.push(random() < 0.5 ? "brk" : "mmap2");
  }
  trace.push("exit_group");
  return trace;
}

/** An attack: normal work interrupted by unseen syscalls and known ones in a strange order. */
function attackTrace(random: () => number): string[] {
  const trace = normalTrace(random, 0).slice(0, 12);
  trace.push(...ATTACK, "close", "read", "poll", "open", "write", "recv", "fstat64");
  trace.push(...normalTrace(random, 1).slice(2, 12));
  return trace;
}

const random = prng(7);
const train = Array.from({ length: 40 }, (_, i) => normalTrace(random, i % 2));
const heldOut = Array.from({ length: 20 }, (_, i) => normalTrace(random, i % 2));
const attacks = Array.from({ length: 5 }, () => attackTrace(random));

async function scores(family: TraceFamily): Promise<{ normal: number[]; attack: number[] }> {
  await family.fit(train, { seed: 42 });
  return {
    normal: Array.from(await family.score(heldOut)),
    attack: Array.from(await family.score(attacks)),
  };
}

const families: [string, () => TraceFamily][] = [
  [
    "next-syscall",
    () =>
      createNextSyscallFamily({
        context: 4,
        embeddingDim: 8,
        hidden: [32],
        epochs: 8,
        batchSize: 64,
      }),
  ],
  [
    "autoencoder",
    () =>
      createAutoencoderFamily({
        n: 2,
        topK: 32,
        hashBuckets: 8,
        hidden: [16, 4, 16],
        epochs: 40,
        batchSize: 8,
      }),
  ],
];

for (const [name, create] of families) {
  describe(`families - ${name}`, () => {
    test("scores every attack above every held-out normal trace, the same for the same seed", async () => {
      const first = await scores(create());
      const highestNormal = Math.max(...first.normal);
      for (const s of first.attack) assert.ok(s > highestNormal, `${s} <= ${highestNormal}`);
      assert.ok(first.normal.every(Number.isFinite));
      const second = await scores(create());
      assert.deepEqual(second, first);
    });

    test("describes itself and refuses to score before fit", async () => {
      const family = create();
      assert.equal(family.name, name);
      assert.equal(typeof family.describe(), "object");
      await assert.rejects(family.score(heldOut));
    });
  });
}
