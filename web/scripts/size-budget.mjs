// Fails the build when the JavaScript a visitor downloads grows past the budget: the sum of the
// gzip sizes of dist/assets/*.js. The budget is about 20% above the measured size (README.md),
// so a new heavy dependency is a decision, not an accident.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_BYTES = Number(process.env.TMM_JS_BUDGET_BYTES ?? 0) || 123 * 1024;
const dir = new URL("../dist/assets/", import.meta.url);
let total = 0;
for (const name of readdirSync(dir)) {
  if (!name.endsWith(".js")) continue;
  const size = gzipSync(readFileSync(join(dir.pathname, name)), { level: 9 }).length;
  total += size;
  console.log(`  ${name}: ${(size / 1024).toFixed(1)} KiB gzip`);
}
const verdict = total <= BUDGET_BYTES ? "within" : "OVER";
console.log(
  `JavaScript: ${(total / 1024).toFixed(1)} KiB gzip, ${verdict} the budget of ${(BUDGET_BYTES / 1024).toFixed(0)} KiB`,
);
if (total > BUDGET_BYTES) process.exit(1);
