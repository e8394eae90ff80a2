/** `vigil probe`: what this kernel supports, from the helper's own load attempt. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../main.js";

export async function probeCommand(_argv: string[]): Promise<number> {
  const helper = join(repoRoot(), "bpf", "build", "vigil-bpf");
  const r = spawnSync(helper, ["probe"], { encoding: "buffer" });
  if (r.error) {
    process.stderr.write(`vigil: cannot run ${helper}: ${r.error.message}\n  fix: npm run setup\n`);
    return 1;
  }
  // The helper speaks frames; its JSON frames start after an 8-byte header.
  const out = r.stdout;
  for (let o = 0; o + 8 <= out.length; ) {
    const len = out.readUInt32LE(o);
    if (len < 8) break;
    if (out.readUInt16LE(o + 4) === 5)
      process.stdout.write(`${out.subarray(o + 8, o + len).toString()}\n`);
    o += len;
  }
  process.stderr.write(r.stderr.toString());
  return r.status ?? 1;
}
