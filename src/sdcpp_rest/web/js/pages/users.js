// The Users page (admin): users (create, disable or enable, make admin or user, reset password)
// through /api/users, and API keys (create: the key is shown once; revoke) through /api/auth/keys.

import { api, splitFieldErrors } from "../api.js";
import { field, formatDate, h, replace, section, select, setFieldError, setOptions, table, toast } from "../dom.js";

export class UsersPage {
  constructor(ctx) {
    this.ctx = ctx;
    this.users = [];
    this.userRows = h("div");
    this.keyRows = h("div");
    this.newKey = h("div", { class: "secret", role: "status", hidden: true });
    this.userForm = this.buildUserForm();
    this.keyForm = this.buildKeyForm();
    this.el = h(
      "section",
      { class: "page page-users", "aria-labelledby": "users-title" },
      h("h1", { id: "users-title" }, "Users and API keys"),
      section("Users", this.userRows, h("h3", {}, "New user"), this.userForm.el),
      section("API keys", this.keyRows, h("h3", {}, "New API key"), this.keyForm.el, this.newKey),
    );
  }

  async init() {
    await this.refresh();
  }

  async show() {
    await this.refresh();
  }

  async refresh() {
    try {
      const [users, keys] = await Promise.all([api("api/users"), api("api/auth/keys")]);
      this.users = users.users;
      replace(this.userRows, this.usersTable());
      replace(this.keyRows, this.keysTable(keys.keys));
      const me = this.ctx.principal.id;
      setOptions(this.keyForm.owner, this.users.map((u) => ({ value: u.id, label: u.username })));
      if (this.users.some((u) => u.id === me)) this.keyForm.owner.value = me;
      this.keyForm.noOwner.hidden = this.users.length > 0;
    } catch (error) {
      toast(error.message, "error");
    }
  }

  usersTable() {
    if (!this.users.length) return h("p", { class: "hint" }, "No user yet.");
    return table(
      ["Username", "Role", "Source", "Status", "Created", "Last login", "Actions"],
      this.users.map((user) => this.userRow(user)),
      "Users",
    );
  }

  userRow(user) {
    const self = user.id === this.ctx.principal.id;
    const passwordBox = h("form", { class: "inline-form", hidden: true });
    const password = h("input", { type: "password", autocomplete: "new-password", "aria-label": `New password for ${user.username}` });
    const passwordError = h("p", { class: "field-error", hidden: true });
    passwordBox.append(password, h("button", { type: "submit", class: "small" }, "Save password"), passwordError);
    passwordBox.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await this.update(user, { password: password.value });
        toast(`Password of ${user.username} changed; their sessions ended.`);
      } catch (error) {
        passwordError.hidden = false;
        passwordError.textContent = error.message;
      }
    });
    const button = (label, aria, run, disabled) =>
      h("button", { type: "button", class: "secondary small", "aria-label": aria, disabled, onclick: run }, label);
    return h(
      "tr",
      { dataset: { user: user.username } },
      h("td", {}, user.username, self ? h("span", { class: "hint" }, " (you)") : null),
      h("td", {}, user.role),
      h("td", {}, user.source),
      h("td", {}, user.enabled ? "enabled" : "disabled"),
      h("td", {}, formatDate(user.created_at)),
      h("td", {}, formatDate(user.last_login_at)),
      h(
        "td",
        { class: "actions-cell" },
        button(user.enabled ? "Disable" : "Enable", `${user.enabled ? "Disable" : "Enable"} ${user.username}`,
          () => this.act(user, { enabled: !user.enabled }), self),
        button(user.role === "admin" ? "Make user" : "Make admin", `Change the role of ${user.username}`,
          () => this.act(user, { role: user.role === "admin" ? "user" : "admin" }), self),
        button("Reset password", `Reset the password of ${user.username}`, () => {
          passwordBox.hidden = !passwordBox.hidden;
          if (!passwordBox.hidden) password.focus();
        }),
        passwordBox,
      ),
    );
  }

  async act(user, change) {
    try {
      await this.update(user, change);
    } catch (error) {
      toast(error.message, "error");
    }
  }

  async update(user, change) {
    await api(`api/users/${encodeURIComponent(user.id)}`, { method: "PATCH", body: change });
    await this.refresh();
  }

  keysTable(keys) {
    if (!keys.length) return h("p", { class: "hint" }, "No API key yet.");
    return table(
      ["Name", "ID", "Created", "Expires", "Last used", "Status", "Actions"],
      keys.map((key) =>
        h(
          "tr",
          { dataset: { key: key.id } },
          h("td", {}, key.name),
          h("td", { class: "mono" }, key.id),
          h("td", {}, formatDate(key.created_at)),
          h("td", {}, key.expires_at ? formatDate(key.expires_at) : "never"),
          h("td", {}, formatDate(key.last_used_at)),
          h("td", {}, key.revoked ? "revoked" : "active"),
          h("td", { class: "actions-cell" }, key.revoked ? null : h("button", {
            type: "button", class: "danger small", "aria-label": `Revoke key ${key.name}`,
            onclick: () => this.revoke(key),
          }, "Revoke")),
        ),
      ),
      "API keys",
    );
  }

  async revoke(key) {
    try {
      await api(`api/auth/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
      toast(`Key ${key.name} revoked.`);
      await this.refresh();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  buildUserForm() {
    const fields = {
      username: field("Username", h("input", { type: "text", autocomplete: "off", required: true })),
      password: field("Password", h("input", { type: "password", autocomplete: "new-password", required: true })),
      role: field("Role", select(["user", "admin"])),
    };
    const error = h("p", { class: "field-error", role: "alert", hidden: true });
    const el = h("form", { class: "grid-3", novalidate: true }, Object.values(fields).map((f) => f.wrapper),
      h("button", { type: "submit" }, "Create user"), error);
    el.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = Object.fromEntries(Object.entries(fields).map(([name, f]) => [name, f.control.value]));
      await this.submitForm(fields, error, async () => {
        const reply = await api("api/users", { method: "POST", body });
        toast(`User ${reply.user.username} created.`);
        el.reset();
      });
    });
    return { el };
  }

  buildKeyForm() {
    const fields = {
      name: field("Key name", h("input", { type: "text", autocomplete: "off", required: true })),
      expires_in_days: field("Expires in (days)", h("input", { type: "number", min: "1", step: "1", inputmode: "numeric" }), { hint: "Empty: never." }),
      user_id: field("Owner", select([])),
    };
    const error = h("p", { class: "field-error", role: "alert", hidden: true });
    const el = h("form", { class: "grid-3", novalidate: true }, Object.values(fields).map((f) => f.wrapper),
      h("button", { type: "submit" }, "Create key"), error);
    el.addEventListener("submit", async (event) => {
      event.preventDefault();
      const days = fields.expires_in_days.control.value;
      const body = { name: fields.name.control.value, user_id: fields.user_id.control.value || undefined };
      if (days) body.expires_in_days = Number(days);
      await this.submitForm(fields, error, async () => {
        const reply = await api("api/auth/keys", { method: "POST", body });
        this.showNewKey(reply);
        el.reset();
      });
    });
    const noOwner = h("p", { class: "hint", hidden: true }, "Every key belongs to a user: create one first.");
    el.append(noOwner);
    return { el, owner: fields.user_id.control, noOwner };
  }

  /** Runs a create call, then shows the API's message beside the field it names. */
  async submitForm(fields, error, run) {
    for (const f of Object.values(fields)) setFieldError(f, null);
    error.hidden = true;
    try {
      await run();
      await this.refresh();
    } catch (failure) {
      const { fields: named, rest } = splitFieldErrors(failure.message, new Set(Object.keys(fields)));
      for (const [name, message] of named) setFieldError(fields[name], message);
      error.hidden = rest.length === 0;
      error.textContent = rest.join("; ");
    }
  }

  showNewKey(reply) {
    const code = h("code", { class: "key-value" }, reply.key);
    const copy = h("button", { type: "button", class: "secondary small", onclick: async () => {
      try {
        await navigator.clipboard.writeText(reply.key);
        toast("Key copied.");
      } catch {
        toast("Copying is not allowed here: select the key and copy it by hand.", "error");
      }
    } }, "Copy key");
    replace(this.newKey, h("p", {}, `New key “${reply.name}”. Store it now: it is not shown again.`), code, " ", copy,
      h("button", { type: "button", class: "secondary small", onclick: () => (this.newKey.hidden = true) }, "Done"));
    this.newKey.hidden = false;
  }
}
