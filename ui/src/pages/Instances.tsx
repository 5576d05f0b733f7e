import { useEffect } from "react";
import { Server } from "lucide-react";
import { PageHeader } from "../components/PageHeader";
import { Card, EmptyState, ErrorNote, Pill, SkeletonRows } from "../components/ui";
import { useInstances } from "../api/queries";
import { formatAgo, formatCountdown, formatDateTime } from "../lib/format";
import { instanceUptimeMs, sortInstances, staleNote } from "../lib/instances";
import { useNow } from "../lib/now";

/** How often the list is read again (instances write their heartbeat every few seconds). */
const REFRESH_MS = 5_000;

export function Instances() {
  const instances = useInstances();
  const now = useNow();
  const { reload } = instances;
  useEffect(() => {
    const t = setInterval(reload, REFRESH_MS);
    return () => clearInterval(t);
  }, [reload]);
  return (
    <>
      <PageHeader title="Instances" />
      <div className="content">
        <p className="muted small">
          Every Switchboard sharing this database, from the heartbeat each writes every few seconds. An instance that stopped cleanly leaves the list; one that missed three heartbeats is shown as
          stale, and its row is removed once it has been silent for a day.
        </p>
        {instances.error && !instances.data ? (
          <Card>
            <ErrorNote error={instances.error} onRetry={reload} />
          </Card>
        ) : !instances.data ? (
          <Card>
            <SkeletonRows rows={3} />
          </Card>
        ) : instances.data.length === 0 ? (
          <Card>
            <EmptyState icon={<Server size={22} />} title="No heartbeat yet" />
          </Card>
        ) : (
          <Card title={`Instances (${instances.data.length})`} icon={<Server size={16} />}>
            <div className="table-wrap">
              <table data-testid="instances">
                <thead>
                  <tr>
                    <th>Instance</th>
                    <th>Version</th>
                    <th>Address</th>
                    <th>Uptime</th>
                    <th>In flight</th>
                    <th>Last heartbeat</th>
                    <th>State</th>
                  </tr>
                </thead>
                <tbody>
                  {sortInstances(instances.data).map((i) => (
                    <tr key={i.id} data-testid="instance-row" data-instance={i.id}>
                      <td className="mono">
                        {i.id} {i.current && <Pill color="blue">this instance</Pill>}
                      </td>
                      <td className="mono">{i.version}</td>
                      <td className="mono">{i.address}</td>
                      <td className="tnum" title={`Started ${formatDateTime(i.started_at_ms)}`}>
                        {formatCountdown(instanceUptimeMs(i, now))}
                      </td>
                      <td className="tnum">{i.in_flight}</td>
                      <td className="tnum" title={formatDateTime(i.last_heartbeat_ms)}>
                        {formatAgo(i.last_heartbeat_ms, now)}
                      </td>
                      <td>
                        {i.alive ? (
                          <Pill color="green">alive</Pill>
                        ) : (
                          <span className="row" data-testid="instance-stale">
                            <Pill color="amber" title={`Removed at ${formatDateTime(i.removed_at_ms)} unless it beats again`}>
                              stale
                            </Pill>
                            <span className="faint small">{staleNote(i, now)}</span>
                          </span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Card>
        )}
      </div>
    </>
  );
}
