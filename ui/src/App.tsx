import { type ReactNode, useEffect, useState } from "react";
import { Activity, BarChart3, Blocks, Users, FlaskConical, KeyRound, LayoutDashboard, LogOut, Moon, Route as RouteIcon, Server, Settings as SettingsIcon, Sun, Waypoints } from "lucide-react";
import { ToastProvider } from "./components/Toasts";
import { UpdateBanner } from "./components/UpdateBanner";
import { RoutingBanner } from "./components/RoutingBanner";
import { DegradedBanner } from "./components/DegradedBanner";
import { Link, navigate, useLocation } from "./lib/router";
import { getAdminToken, setAdminToken, setUnauthorizedHandler } from "./api/client";
import { bootstrapToken, clearToken, saveToken } from "./lib/token";
import { applyTheme, resolveTheme, storedTheme, type ThemeChoice } from "./lib/theme";
import { startLive, useLive } from "./lib/live";
import { resetQueries } from "./lib/query";
import { Overview } from "./pages/Overview";
import { Providers } from "./pages/Providers";
import { Routes } from "./pages/Routes";
import { Playground } from "./pages/Playground";
import { Requests } from "./pages/Requests";
import { Usage } from "./pages/Usage";
import { Clients } from "./pages/Clients";
import { Integrations } from "./pages/Integrations";
import { Instances } from "./pages/Instances";
import { SettingsPage } from "./pages/Settings";
import { currentSession, type SessionUser, signOut, TokenGate } from "./pages/TokenGate";

interface Page {
  path: string;
  title: string;
  icon: ReactNode;
  render: () => ReactNode;
}

const PAGES: Page[] = [
  { path: "/", title: "Overview", icon: <LayoutDashboard size={17} />, render: () => <Overview /> },
  { path: "/providers", title: "Providers & keys", icon: <KeyRound size={17} />, render: () => <Providers /> },
  { path: "/routes", title: "Routes", icon: <RouteIcon size={17} />, render: () => <Routes /> },
  { path: "/playground", title: "Playground", icon: <FlaskConical size={17} />, render: () => <Playground /> },
  { path: "/requests", title: "Requests", icon: <Activity size={17} />, render: () => <Requests /> },
  { path: "/clients", title: "Clients", icon: <Users size={17} />, render: () => <Clients /> },
  { path: "/usage", title: "Usage", icon: <BarChart3 size={17} />, render: () => <Usage /> },
  { path: "/integrations", title: "Integrations", icon: <Blocks size={17} />, render: () => <Integrations /> },
  { path: "/instances", title: "Instances", icon: <Server size={17} />, render: () => <Instances /> },
  { path: "/settings", title: "Settings", icon: <SettingsIcon size={17} />, render: () => <SettingsPage /> },
];

function pageFor(path: string): Page | undefined {
  if (path === "/" || path === "/index.html") return PAGES[0];
  return PAGES.find((p) => p.path !== "/" && (path === p.path || path.startsWith(`${p.path}/`)));
}

export function App() {
  const [token, setToken] = useState<string | null>(getAdminToken());
  // A signed-in user (the cookie is the credential); `undefined` while it is being checked.
  const [user, setUser] = useState<SessionUser | null | undefined>(token ? null : undefined);
  useEffect(() => {
    setUnauthorizedHandler(() => {
      clearToken();
      setAdminToken(null);
      resetQueries();
      setToken(null);
      setUser(null);
    });
  }, []);
  useEffect(() => {
    if (token || user !== undefined) return;
    void currentSession().then(setUser);
  }, [token, user]);
  const onSession = (u: SessionUser) => {
    resetQueries();
    setUser(u);
  };
  const leave = async () => {
    await signOut();
    resetQueries();
    setUser(null);
  };
  const signIn = (t: string) => {
    saveToken(t);
    setAdminToken(t);
    resetQueries();
    setToken(t);
  };
  // A dashboard link (`#token=…&page=…`) opened in a tab that already shows the dashboard:
  // the desktop app re-points an open window by changing only the fragment.
  useEffect(() => {
    const onHash = () => {
      const hash = window.location.hash;
      if (!hash.includes("token=") && !hash.includes("page=")) return;
      const t = bootstrapToken();
      navigate(window.location.pathname + window.location.search, { replace: true });
      if (t && t !== getAdminToken()) signIn(t);
    };
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  });
  let body: ReactNode;
  if (token) body = <Shell key={token} />;
  else if (user) body = <Shell key={`user:${user.name ?? ""}`} user={user} onSignOut={leave} />;
  else if (user === undefined) body = null;
  else body = <TokenGate onToken={signIn} onSession={onSession} />;
  return <ToastProvider>{body}</ToastProvider>;
}

function ThemeToggle() {
  const [choice, setChoice] = useState<ThemeChoice>(storedTheme());
  const current = resolveTheme(choice);
  useEffect(() => {
    if (choice !== "system") return;
    const mq = window.matchMedia?.("(prefers-color-scheme: dark)");
    const on = () => applyTheme("system");
    mq?.addEventListener?.("change", on);
    return () => mq?.removeEventListener?.("change", on);
  }, [choice]);
  const toggle = () => {
    const next: ThemeChoice = current === "dark" ? "light" : "dark";
    applyTheme(next);
    setChoice(next);
  };
  return (
    <button type="button" className="nav-link btn ghost" onClick={toggle} aria-label={`Switch to ${current === "dark" ? "light" : "dark"} theme`} data-testid="theme-toggle">
      {current === "dark" ? <Sun size={17} /> : <Moon size={17} />}
      <span className="label">{current === "dark" ? "Light theme" : "Dark theme"}</span>
    </button>
  );
}

function Shell({ user, onSignOut }: { user?: SessionUser; onSignOut?: () => void }) {
  const { path } = useLocation();
  const { live } = useLive();
  useEffect(() => startLive(), []);
  const page = pageFor(path);
  useEffect(() => {
    document.title = page ? `${page.title} · Switchboard` : "Switchboard";
  }, [page]);
  return (
    <div className="shell">
      <nav className="sidebar" aria-label="Main">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            <Waypoints size={16} />
          </span>
          <span>Switchboard</span>
        </div>
        {PAGES.map((p) => (
          <Link key={p.path} to={p.path} className="nav-link" aria-current={page === p ? "page" : undefined} title={p.title}>
            {p.icon}
            <span>{p.title}</span>
          </Link>
        ))}
        <div className="nav-spacer" />
        <div className="sidebar-foot">
          <span className={`pill ${live ? "green live" : ""}`} title={live ? "Live updates connected" : "Connecting to live updates…"} data-testid="live-pill">
            <span className="dot" />
            <span className="label">{live ? "Live" : "Connecting"}</span>
          </span>
          <ThemeToggle />
          {user && (
            <div className="signed-in" data-testid="signed-in">
              <span className="label" title={`Signed in as ${user.name ?? ""} (${user.role})`}>
                {user.name} · {user.role}
              </span>
              <button type="button" className="nav-link btn ghost" onClick={onSignOut} data-testid="sign-out">
                <LogOut size={17} />
                <span className="label">Sign out</span>
              </button>
            </div>
          )}
        </div>
      </nav>
      <main className={user?.role === "viewer" ? "main viewer" : "main"} id="main">
        <UpdateBanner />
        <RoutingBanner />
        <DegradedBanner />
        {user?.role === "viewer" && (
          <div className="viewer-banner" role="status" data-testid="viewer-banner">
            Read-only: you are signed in as a viewer. Changes and secrets need an admin.
          </div>
        )}
        {page ? (
          page.render()
        ) : (
          <>
            <header className="topbar">
              <h1>Not found</h1>
            </header>
            <div className="content">
              <p className="muted">
                There is no page at <code>{path}</code>. <Link to="/">Go to the overview</Link>.
              </p>
            </div>
          </>
        )}
      </main>
    </div>
  );
}

