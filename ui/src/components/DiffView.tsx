// A unified diff as text, one line per row, added and removed lines colored.
import "./diff.css";

function kind(line: string): string {
  if (line.startsWith("+++") || line.startsWith("---")) return "diff-file";
  if (line.startsWith("@@")) return "diff-hunk";
  if (line.startsWith("+")) return "diff-add";
  if (line.startsWith("-")) return "diff-del";
  return "";
}

export function DiffView({ diff }: { diff: string }) {
  const lines = diff.replace(/\n$/, "").split("\n");
  return (
    <pre className="diff" aria-label="Changes">
      {lines.map((l, i) => (
        <div key={i} className={kind(l)}>
          {l || " "}
        </div>
      ))}
    </pre>
  );
}
