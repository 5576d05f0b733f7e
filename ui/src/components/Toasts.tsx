import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from "react";
import { CircleAlert, CircleCheck, X } from "lucide-react";

interface Toast {
  id: number;
  kind: "ok" | "error";
  text: string;
}

interface ToastApi {
  ok: (text: string) => void;
  error: (text: string) => void;
}

const Ctx = createContext<ToastApi>({ ok: () => {}, error: () => {} });

export function useToast(): ToastApi {
  return useContext(Ctx);
}

let next = 1;

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const remove = useCallback((id: number) => setToasts((t) => t.filter((x) => x.id !== id)), []);
  const push = useCallback(
    (kind: Toast["kind"], text: string) => {
      const id = next++;
      setToasts((t) => [...t.slice(-3), { id, kind, text }]);
      setTimeout(() => remove(id), kind === "error" ? 7000 : 3500);
    },
    [remove],
  );
  const api = useMemo(() => ({ ok: (t: string) => push("ok", t), error: (t: string) => push("error", t) }), [push]);
  return (
    <Ctx.Provider value={api}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast ${t.kind}`}>
            <span className="toast-icon">{t.kind === "ok" ? <CircleCheck size={16} /> : <CircleAlert size={16} />}</span>
            <div className="spacer">{t.text}</div>
            <button type="button" className="btn ghost sm icon" aria-label="Dismiss" title="Dismiss" onClick={() => remove(t.id)}>
              <X size={14} />
            </button>
          </div>
        ))}
      </div>
    </Ctx.Provider>
  );
}
