// The sign-in page: a username and password (POST /api/auth/login, JWT), or an API key instead.

import { api, session } from "../api.js";
import { field, h, setFieldError } from "../dom.js";

export function loginPage(onSignedIn) {
  const username = field("Username", h("input", { type: "text", autocomplete: "username", required: true }));
  const password = field("Password", h("input", { type: "password", autocomplete: "current-password", required: true }));
  const loginError = h("p", { class: "form-error", role: "alert", hidden: true });
  const loginForm = h("form", { class: "stack", novalidate: true, "aria-label": "Log in" },
    username.wrapper, password.wrapper, h("button", { type: "submit", class: "primary" }, "Log in"), loginError);
  loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    loginError.hidden = true;
    try {
      const reply = await api("api/auth/login", {
        method: "POST",
        body: { username: username.control.value, password: password.control.value },
      });
      session.useToken(reply.token);
      onSignedIn(reply.user);
    } catch (error) {
      loginError.hidden = false;
      loginError.textContent = error.message;
      password.control.select();
    }
  });

  const key = field("API key", h("input", { type: "password", autocomplete: "off", spellcheck: false }), {
    hint: "Kept for this tab only.",
  });
  const keyForm = h("form", { class: "stack", novalidate: true, "aria-label": "Use an API key" },
    key.wrapper, h("button", { type: "submit", class: "secondary" }, "Use API key"));
  keyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    setFieldError(key, null);
    session.useApiKey(key.control.value.trim());
    try {
      const reply = await api("api/auth/me");
      onSignedIn(reply.user);
    } catch (error) {
      session.forget();
      setFieldError(key, error.message);
    }
  });

  const el = h("section", { class: "page page-login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Log in"),
    h("div", { class: "card" }, loginForm),
    h("details", { class: "card" }, h("summary", {}, "Use an API key instead"), keyForm));
  setTimeout(() => username.control.focus());
  return el;
}
