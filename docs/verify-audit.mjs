// Verifies a gatehouse audit export (JSON lines, one event per line) with nothing but Node:
//   node docs/verify-audit.mjs export.jsonl
// JCS (RFC 8785) is JSON.stringify with object keys sorted by UTF-16 code units.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";

const jcs = (v) =>
  Array.isArray(v) ? `[${v.map(jcs).join(",")}]`
  : v !== null && typeof v === "object"
    ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${jcs(v[k])}`).join(",")}}`
    : JSON.stringify(v);

let prev = "0".repeat(64);
let seq = 0;
for (const line of readFileSync(process.argv[2], "utf8").split("\n")) {
  if (!line.trim()) continue;
  const { hash, ...event } = JSON.parse(line);
  seq += 1;
  const expected = createHash("sha256").update(`${prev}\n${jcs(event)}`).digest("hex");
  if (event.seq !== seq || event.prev_hash !== prev || hash !== expected) {
    console.log(`broken: first bad seq ${seq}`);
    process.exit(1);
  }
  prev = hash;
}
console.log(`valid: ${seq} events, head ${prev}`);
