// The token prompt: any 401 shows #auth-required and the #token-modal; the token entered is
// kept in sessionStorage and the current page is loaded again with it.

import { getToken, onUnauthorized, setToken } from "./api";
import { byId } from "./dom";

let retry: () => void = () => {};
let shown = false;

export function initAuth(onToken: () => void): void {
  retry = onToken;
  onUnauthorized(requireToken);
  const form = byId<HTMLFormElement>("token-form");
  form?.addEventListener("submit", (e) => {
    e.preventDefault();
    const input = byId<HTMLInputElement>("token-input");
    const value = input?.value.trim() ?? "";
    if (!value) {
      setError("Enter the manager's token (streamforge up --token, SF_API_TOKEN).");
      return;
    }
    setToken(value);
    hideModal();
    byId("auth-required")?.setAttribute("hidden", "");
    document.body.dataset.auth = "token";
    retry();
  });
  byId("token-cancel")?.addEventListener("click", () => hideModal());
  byId("auth-open")?.addEventListener("click", () => showModal());
  byId("token-forget")?.addEventListener("click", () => {
    setToken(null);
    location.reload();
  });
  if (getToken()) document.body.dataset.auth = "token";
}

// Every 401 lands here (several at once show one prompt).
export function requireToken(): void {
  const hadToken = getToken() !== null;
  document.body.dataset.auth = "required";
  byId("auth-required")?.removeAttribute("hidden");
  if (shown) return;
  setError(hadToken ? "The manager refused this token (401): enter the right one." : "");
  showModal();
}

function showModal(): void {
  const modal = byId("token-modal");
  if (!modal) return;
  modal.removeAttribute("hidden");
  shown = true;
  const input = byId<HTMLInputElement>("token-input");
  if (input) {
    input.value = "";
    input.focus();
  }
}

function hideModal(): void {
  byId("token-modal")?.setAttribute("hidden", "");
  shown = false;
}

function setError(text: string): void {
  const el = byId("token-error");
  if (el) el.textContent = text;
}
