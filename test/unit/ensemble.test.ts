import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createEnsembleFamily, percentile, robustZ } from "../../training/families/ensemble.js";
import type { TraceFamily } from "../../training/families/family.js";
import { rocAuc } from "../../training/metrics.js";
import { prng } from "../../training/random.js";

/** A member that only sees one thing: how often `name` occurs in a trace. */
function counter(name: string): TraceFamily {
  return {
    name: `count-${name}`,
    async fit() {},
    async score(traces) {
      return Float64Array.from(traces, (t) => t.filter((s) => s === name).length);
    },
    describe: () => ({ name }),
  };
}

const random = prng(11);
/** Normal traces carry a little x and y noise; each attack has one of them in bulk. */
const normal = (): string[] => {
  const t = ["open", "read", "close"];
  for (let i = 0; i < 3; i++) if (random() < 0.3) t.push(random() < 0.5 ? "x" : "y");
  return t;
};
const train = Array.from({ length: 200 }, normal);
const heldOut = Array.from({ length: 100 }, normal);
const attacks = Array.from({ length: 20 }, (_, i) => [
  ...normal(),
  ...Array.from({ length: 8 }, () => (i % 2 === 0 ? "x" : "y")),
]);

async function auc(family: TraceFamily): Promise<number> {
  await family.fit(train, { seed: 3 });
  return rocAuc(await family.score(heldOut), await family.score(attacks));
}

describe("ensemble", () => {
  test("ensemble - complementary members: attacks rank above normals where each alone misses", async () => {
    const x = await auc(counter("x"));
    const y = await auc(counter("y"));
    assert.ok(x < 0.9 && y < 0.9, `each member misses half the attacks (x ${x}, y ${y})`);
    const mean = await auc(createEnsembleFamily([() => counter("x"), () => counter("y")]));
    assert.ok(mean > Math.max(x, y) + 0.05, `mean ${mean} beats x ${x} and y ${y}`);
    for (const normalise of ["percentile", "z"] as const) {
      const max = await auc(
        createEnsembleFamily({
          members: [() => counter("x"), () => counter("y")],
          combine: "max",
          normalise,
        }),
      );
      assert.equal(max, 1, `${normalise} max separates every attack`);
    }
  });

  test("ensemble - same traces and seed give the same scores (default knn + ngram-lm)", async () => {
    const run = async () => {
      const e = createEnsembleFamily();
      await e.fit(train, { seed: 5 });
      return Array.from(await e.score([...heldOut, ...attacks]));
    };
    const a = await run();
    assert.deepEqual(await run(), a);
    assert.ok(a.every(Number.isFinite));
  });

  test("ensemble - describe names the members and the calibration", async () => {
    const e = createEnsembleFamily({ members: [() => counter("x")], refit: false });
    await e.fit(train, { seed: 1 });
    const d = e.describe();
    assert.equal(d.calibrationTraces, 40);
    assert.equal(d.refit, false);
    assert.deepEqual(d.members, [{ family: "count-x", name: "x" }]);
  });

  test("ensemble - rejects no members, a bad hold-out and too little training data", async () => {
    assert.throws(() => createEnsembleFamily([]), /at least one member/);
    assert.throws(() => createEnsembleFamily({ holdOut: 1 }), /holdOut/);
    await assert.rejects(createEnsembleFamily().fit([["a"], ["b"]], { seed: 0 }), /too few/);
  });

  test("ensemble - percentile is a mid-rank CDF; robustZ centres on the median", () => {
    const ref = Float64Array.from([1, 2, 2, 3]);
    const p = percentile(ref);
    assert.equal(p(0), 0);
    assert.equal(p(2), 0.5);
    assert.equal(p(9), 1);
    const z = robustZ(Float64Array.from([0, 1, 2, 3, 4]));
    assert.equal(z(2), 0);
    assert.equal(z(4), 1);
  });
});
