import { Blocks } from "lucide-react";
import { PageHeader } from "../components/PageHeader";
import { Card, EmptyState } from "../components/ui";

export function Integrations() {
  return (
    <>
      <PageHeader title="Integrations" />
      <div className="content">
        <Card>
          <EmptyState icon={<Blocks size={22} />} title="Connect your AI tools">
            One-click setup for Codex, Claude Code, OpenCode, Gemini CLI and Aider is coming here. Until then, run <code>switchboard onboard</code>, or point a tool at the endpoint and access key on the
            overview.
          </EmptyState>
        </Card>
      </div>
    </>
  );
}
