import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createNgramLmFamily, type NgramSmoothing } from "../../training/families/ngram-lm.js";

const train = [
  ["open", "read", "read", "close", "open", "read", "close"],
  ["open", "read", "close", "brk", "open", "read", "read", "close"],
  ["brk", "mmap2", "open", "read", "close"],
];
const normal = [["open", "read", "close", "open", "read", "read", "close"]];
const attack = [["open", "execve", "socket", "dup2", "read", "close", "setuid"]];

describe("ngram-lm", () => {
  for (const smoothing of ["stupid", "kneser-ney"] as NgramSmoothing[]) {
    test(`${smoothing} - scores an attack above a normal trace`, async () => {
      const family = createNgramLmFamily({ n: 3, smoothing });
      await family.fit(train, { seed: 0 });
      const [n = 0] = await family.score(normal);
      const [a = 0] = await family.score(attack);
      assert.ok(a > n, `${a} <= ${n}`);
      assert.equal(family.describe().smoothing, smoothing);
    });
  }

  test("kneser-ney - next-syscall probabilities after any context sum to 1", async () => {
    const family = createNgramLmFamily({ n: 3, smoothing: "kneser-ney" });
    await family.fit(train, { seed: 0 });
    const names = ["open", "read", "close", "brk", "mmap2", "never-seen"];
    for (const prefix of [
      [],
      ["open"],
      ["open", "read"],
      ["read", "brk"],
      ["never-seen", "read"],
    ]) {
      // Mean surprise of prefix + [x] minus the prefix's total surprise = -log P(x | prefix).
      const [before = 0] = prefix.length ? await family.score([prefix]) : [0];
      const after = await family.score(names.map((x) => [...prefix, x]));
      const total = Array.from(after).reduce(
        (sum, s) => sum + Math.exp(before * prefix.length - s * (prefix.length + 1)),
        0,
      );
      assert.ok(Math.abs(total - 1) < 1e-9, `after [${prefix}]: ${total}`);
    }
  });

  test("refuses an unknown smoothing", () => {
    assert.throws(
      () => createNgramLmFamily({ smoothing: "witten-bell" as NgramSmoothing }),
      /smoothing/,
    );
  });
});
