// DOM helpers. Every text the API returns (prompts, names, messages) reaches the page through text
// nodes or attributes set one by one, never parsed as HTML, so it can never become markup
// (tests/unit/test_web_files.py refuses the string-to-markup APIs in these files).

let nextId = 0;

/** A unique element id, for <label for> and aria-describedby. */
export function uid(prefix = "id") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * h("button", {type: "button", onclick: fn, "aria-label": "Cancel"}, "Cancel")
 * Keys: class, dataset, on<event> (a function), names with a dash (attributes), DOM properties
 * (value, checked, hidden, disabled, ...); null, undefined and false are left out.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "for") el.htmlFor = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key.includes("-") || !(key in el)) el.setAttribute(key, value === true ? "" : String(value));
    else el[key] = value;
  }
  append(el, children);
  return el;
}

/** Appends strings (as text), nodes and (nested) arrays of them; null and false are skipped. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  return append(clear(el), children);
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Unix seconds as the browser's local date and time. */
export function formatDate(unixSeconds) {
  if (!unixSeconds) return "–";
  return new Date(unixSeconds * 1000).toLocaleString();
}

/** Shows a short message at the bottom of the page for a few seconds. */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("p", { class: `toast toast-${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/** A function that runs `fn` once calls have stopped for `ms`. */
export function debounce(fn, ms) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

/**
 * A labelled form field: <div class="field"><label>…</label>{control}<p class="field-error"></p></div>.
 * The error paragraph is tied to the control with aria-describedby, so screen readers read it.
 */
export function field(labelText, control, { hint, className } = {}) {
  if (!control.id) control.id = uid("f");
  const error = h("p", { class: "field-error", id: uid("err"), hidden: true });
  const describedBy = [error.id];
  const hintEl = hint ? h("p", { class: "hint", id: uid("hint") }, hint) : null;
  if (hintEl) describedBy.push(hintEl.id);
  control.setAttribute("aria-describedby", describedBy.join(" "));
  const wrapper = h(
    "div",
    { class: `field ${className || ""}`.trim() },
    h("label", { for: control.id }, labelText),
    control,
    hintEl,
    error,
  );
  return { wrapper, control, error };
}

/** Shows (or with null, clears) a field's error message beside it. */
export function setFieldError(entry, message) {
  entry.error.hidden = !message;
  entry.error.textContent = message || "";
  if (message) entry.control.setAttribute("aria-invalid", "true");
  else entry.control.removeAttribute("aria-invalid");
}

/** A <select> with the given options: strings or {value, label}. */
export function select(options, props = {}) {
  const el = h("select", props);
  setOptions(el, options);
  return el;
}

export function setOptions(el, options) {
  const previous = el.value;
  clear(el);
  for (const option of options) {
    const { value, label } = typeof option === "string" ? { value: option, label: option } : option;
    el.append(h("option", { value }, label));
  }
  if ([...el.options].some((o) => o.value === previous)) el.value = previous;
}

/** A heading plus content in a <section>, named by its heading. */
export function section(title, ...children) {
  const heading = h("h2", { id: uid("h") }, title);
  return h("section", { class: "card", "aria-labelledby": heading.id }, heading, ...children);
}

/** A table in a scroll box of its own (the page itself never scrolls sideways). */
export function table(headers, rows, caption) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, rows),
    ),
  );
}
