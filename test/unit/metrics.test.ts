import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { farAtDetection, rocAuc, rocCurve } from "../../training/metrics.js";

describe("rocAuc", () => {
  test("rocAuc - perfectly separated scores give 1, reversed give 0", () => {
    assert.equal(rocAuc([0.1, 0.2, 0.3], [0.5, 0.9]), 1);
    assert.equal(rocAuc([0.5, 0.9], [0.1, 0.2, 0.3]), 0);
  });

  test("rocAuc - identical scores give 0.5", () => {
    assert.equal(rocAuc([1, 1, 1], [1, 1]), 0.5);
  });

  test("rocAuc - ties count half (hand-computed)", () => {
    // pos 2: beats 1, ties 2, loses to 3 -> 1.5; pos 4 beats all three -> 3; 4.5 / 6.
    assert.equal(rocAuc([1, 2, 3], [2, 4]), 0.75);
    assert.equal(rocAuc(Float64Array.from([3, 2, 1]), Float64Array.from([4, 2])), 0.75);
  });

  test("rocAuc - empty side is NaN", () => {
    assert.ok(Number.isNaN(rocAuc([], [1])));
  });
});

describe("farAtDetection", () => {
  const neg = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
  const pos = [0.35, 0.5, 0.7, 0.9, 1.0, 0.95, 0.85, 0.75, 0.65, 0.55];

  test("farAtDetection - threshold detects 9 of 10; a negative tied with it is a false alarm", () => {
    // 9th highest attack score is 0.5; negatives >= 0.5: 0.5 .. 1.0 = 6 of 10.
    assert.equal(farAtDetection(neg, pos, 0.9), 0.6);
    assert.equal(farAtDetection(neg, pos), 0.6);
  });

  test("farAtDetection - 100 % detection lowers the threshold to the weakest attack", () => {
    assert.equal(farAtDetection(neg, pos, 1), 0.7);
  });

  test("farAtDetection - separated scores give no false alarms", () => {
    assert.equal(farAtDetection([0, 0.1], [0.5, 0.6, 0.7]), 0);
  });
});

describe("rocCurve", () => {
  test("rocCurve - runs from (0,0) to (1,1) and never goes back", () => {
    const curve = rocCurve([1, 2, 3, 3], [2, 3, 5]);
    assert.deepEqual(curve[0], { fpr: 0, tpr: 0 });
    assert.deepEqual(curve.at(-1), { fpr: 1, tpr: 1 });
    for (let i = 1; i < curve.length; i++) {
      assert.ok((curve[i]?.fpr ?? -1) >= (curve[i - 1]?.fpr ?? 2));
      assert.ok((curve[i]?.tpr ?? -1) >= (curve[i - 1]?.tpr ?? 2));
    }
  });

  test("rocCurve - down-sampled to at most 200 points, endpoints and order kept", () => {
    const neg = Array.from({ length: 5000 }, (_, i) => Math.sin(i) * 10);
    const pos = Array.from({ length: 700 }, (_, i) => Math.cos(i) * 10 + 3);
    const curve = rocCurve(neg, pos);
    assert.ok(curve.length <= 200);
    assert.deepEqual(curve[0], { fpr: 0, tpr: 0 });
    assert.deepEqual(curve.at(-1), { fpr: 1, tpr: 1 });
    for (let i = 1; i < curve.length; i++) {
      assert.ok((curve[i]?.fpr ?? -1) >= (curve[i - 1]?.fpr ?? 2));
      assert.ok((curve[i]?.tpr ?? -1) >= (curve[i - 1]?.tpr ?? 2));
    }
  });
});
