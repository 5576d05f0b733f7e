// Captured bodies for reading and comparing: pretty JSON with keys in order, and a line diff
// of two texts in the unified form DiffView shows.

/** `text` as pretty JSON (object keys sorted, so two dialects' bodies line up); the text
 * itself when it is not JSON. */
export function prettyJson(text: string | null | undefined): string {
  if (text === null || text === undefined) return "";
  try {
    return JSON.stringify(sortKeys(JSON.parse(text)), null, 2);
  } catch {
    return text;
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v as Record<string, unknown>)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** Lines compared at most on each side; longer texts are shown whole, unmatched. */
export const DIFF_MAX_LINES = 3000;

/** A unified diff of `a` and `b` by lines (longest common subsequence), with a `---`/`+++`
 * header naming them; unchanged lines are kept, prefixed with a space. */
export function lineDiff(a: string, b: string, names: [string, string] = ["a", "b"]): string {
  const x = a === "" ? [] : a.split("\n");
  const y = b === "" ? [] : b.split("\n");
  const out = [`--- ${names[0]}`, `+++ ${names[1]}`];
  if (x.length > DIFF_MAX_LINES || y.length > DIFF_MAX_LINES) {
    return [...out, ...x.map((l) => `-${l}`), ...y.map((l) => `+${l}`)].join("\n");
  }
  // lcs[i][j]: the common length of x[i..] and y[j..].
  const lcs: Uint32Array[] = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      out.push(` ${x[i]}`);
      i++;
      j++;
    } else if (j < y.length && (i === x.length || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out.push(`+${y[j]}`);
      j++;
    } else {
      out.push(`-${x[i]}`);
      i++;
    }
  }
  return out.join("\n");
}

/** Lines added and removed in a diff made by `lineDiff`. */
export function diffStats(diff: string): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const l of diff.split("\n")) {
    if (l.startsWith("+++") || l.startsWith("---")) continue;
    if (l.startsWith("+")) added++;
    else if (l.startsWith("-")) removed++;
  }
  return { added, removed };
}
