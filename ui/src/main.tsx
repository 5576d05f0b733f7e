import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "./styles.css";
import { App } from "./App";
import { applyTheme, storedTheme } from "./lib/theme";
import { bootstrapToken } from "./lib/token";
import { setAdminToken } from "./api/client";

applyTheme(storedTheme());
setAdminToken(bootstrapToken());

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
