// The Models page (admin): the catalog with type filter, search, sort and paging (all done by
// GET /api/models), load and unload of checkpoints, a rescan, and what each engine worker holds.

import { api } from "../api.js";
import { debounce, formatBytes, formatDate, h, replace, section, select, setOptions, table, toast, uid } from "../dom.js";
import { forgetVocab } from "../vocab.js";

const PAGE_SIZE = 25;
// GET /api/models's sort keys (its sort_by parameter).
const SORT_KEYS = ["name", "size", "date", "type", "loaded"];

export class ModelsPage {
  constructor(ctx) {
    this.ctx = ctx;
    this.page = 1;
    this.type = select([{ value: "", label: "All types" }], { id: uid("type") });
    this.search = h("input", { type: "search", id: uid("search"), placeholder: "Name, title or architecture" });
    this.sort = select(SORT_KEYS, { id: uid("sort") });
    this.order = select([{ value: "asc", label: "Ascending" }, { value: "desc", label: "Descending" }], { id: uid("order") });
    for (const control of [this.type, this.sort, this.order]) control.addEventListener("change", () => this.filter());
    this.search.addEventListener("input", debounce(() => this.filter(), 300));
    this.rows = h("tbody");
    this.count = h("p", { class: "hint", role: "status" });
    this.prev = h("button", { type: "button", class: "secondary", onclick: () => this.load(this.page - 1) }, "Previous page");
    this.next = h("button", { type: "button", class: "secondary", onclick: () => this.load(this.page + 1) }, "Next page");
    this.workers = h("div");
    const labelled = (text, control) => h("div", { class: "field" }, h("label", { for: control.id }, text), control);
    const catalog = table(["Name", "Type", "Architecture", "Size", "Modified", "Hash", "Loaded", "Actions"], [], "Model files");
    catalog.querySelector("tbody").replaceWith(this.rows);
    this.el = h(
      "section",
      { class: "page page-models", "aria-labelledby": "models-title" },
      h("div", { class: "page-head" }, h("h1", { id: "models-title" }, "Models"),
        h("button", { type: "button", class: "secondary", onclick: () => this.rescan() }, "Rescan model folders")),
      h("div", { class: "filters" }, labelled("Type", this.type), labelled("Search models", this.search),
        labelled("Sort by", this.sort), labelled("Order", this.order)),
      this.count,
      catalog,
      h("nav", { class: "pager", "aria-label": "Model pages" }, this.prev, this.next),
      section("Workers", this.workers),
    );
    ctx.live.addEventListener("system", () => {
      if (!this.el.hidden) this.refresh();
    });
  }

  async init() {
    const types = await api("api/models/types");
    setOptions(this.type, [{ value: "", label: "All types" }, ...types.types]);
    await this.refresh();
  }

  async show() {
    await this.refresh();
  }

  async refresh() {
    await Promise.all([this.load(this.page), this.loadWorkers()]);
  }

  filter() {
    this.load(1);
  }

  async load(page) {
    try {
      const reply = await api("api/models", {
        query: {
          type: this.type.value, search: this.search.value.trim(), sort_by: this.sort.value,
          sort_order: this.order.value, limit: PAGE_SIZE, page,
        },
      });
      this.page = reply.page;
      replace(this.rows, reply.models.map((model) => this.row(model)));
      if (!reply.models.length) this.rows.append(h("tr", {}, h("td", { colspan: "8" }, "No model matches.")));
      this.count.textContent = `${reply.total} model(s), page ${reply.page} of ${Math.max(1, reply.pages)}`;
      this.prev.disabled = !reply.has_previous;
      this.next.disabled = !reply.has_next;
    } catch (error) {
      toast(error.message, "error");
    }
  }

  row(model) {
    const actions = h("td", { class: "actions-cell" });
    if (model.type === "checkpoint") {
      const verb = model.loaded ? "Unload" : "Load";
      actions.append(h("button", { type: "button", class: "secondary small", "aria-label": `${verb} ${model.name}`,
        onclick: (event) => this.loadOrUnload(model, verb.toLowerCase(), event.currentTarget) }, verb));
    }
    const hash = model.short_hash || model.hash_status;
    return h(
      "tr",
      { dataset: { model: model.name } },
      h("td", { class: "name-cell" }, model.name, model.error ? h("span", { class: "field-error" }, ` ${model.error}`) : null),
      h("td", {}, model.type),
      h("td", {}, [model.architecture, model.variant].filter(Boolean).join(" ") || "–"),
      h("td", {}, formatBytes(model.size_bytes)),
      h("td", {}, formatDate(model.modified)),
      h("td", { class: "mono" }, hash),
      h("td", {}, model.loaded ? "yes" : "no"),
      actions,
    );
  }

  async loadOrUnload(model, action, button) {
    button.disabled = true;
    button.textContent = action === "load" ? "Loading…" : "Unloading…";
    try {
      const path = model.name.split("/").map(encodeURIComponent).join("/");
      const reply = await api(`api/models/${path}/${action}`, { method: "POST" });
      toast(`${reply.message}: ${reply.model}`);
    } catch (error) {
      toast(error.message, "error");
    }
    await this.refresh();
  }

  async rescan() {
    try {
      const reply = await api("api/models/refresh", { method: "POST" });
      toast(`${reply.models_found} model(s) found, ${reply.models_updated} changed.`);
      forgetVocab(); // the Generate page's lists are read again on its next load
      await this.refresh();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  async loadWorkers() {
    try {
      const reply = await api("api/system");
      replace(this.workers, workersTable(reply.system.workers));
    } catch (error) {
      replace(this.workers, h("p", { class: "field-error" }, error.message));
    }
  }
}

/** The engine workers: the model each holds and its memory (also on the System page). */
export function workersTable(workers) {
  if (!workers.length) return h("p", { class: "hint" }, "No engine worker is running.");
  return table(
    ["Worker", "State", "Model", "Memory", "Process"],
    workers.map((worker) =>
      h(
        "tr",
        {},
        h("td", { class: "mono" }, worker.worker_id),
        h("td", {}, !worker.alive ? "stopped" : worker.job_id ? "busy" : "idle"),
        h("td", {}, worker.loaded_model || "none"),
        h("td", {}, formatBytes(worker.resident_memory_bytes)),
        h("td", { class: "mono" }, worker.pid ?? "–"),
      ),
    ),
    "Engine workers",
  );
}
