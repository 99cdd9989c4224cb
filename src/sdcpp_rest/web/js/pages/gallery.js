// The Gallery: finished images as thumbnails, newest first, a page at a time; a detail dialog with
// the full image, every parameter, download, reuse, send to another mode, delete.

import { api, url } from "../api.js";
import { formatDate, formatSeconds, h, replace, toast } from "../dom.js";
import { truncate } from "./job_view.js";

const PAGE_SIZE = 24;
// The queue listing's largest page: the gallery pages through the newest this many jobs.
const JOBS_READ = 1000;
const THUMB_PX = 256;

export class GalleryPage {
  constructor(ctx) {
    this.ctx = ctx;
    this.page = 1;
    this.items = [];
    this.stale = true;
    this.grid = h("ul", { class: "gallery-grid", "aria-label": "Images" });
    this.empty = h("p", { class: "hint", hidden: true }, "No finished image yet: make one on the Generate page.");
    this.pageLabel = h("span", { class: "page-label", "aria-live": "polite" });
    this.prev = h("button", { type: "button", class: "secondary", onclick: () => this.go(this.page - 1) }, "Previous page");
    this.next = h("button", { type: "button", class: "secondary", onclick: () => this.go(this.page + 1) }, "Next page");
    this.dialog = new DetailDialog(ctx, () => this.reload());
    this.el = h(
      "section",
      { class: "page page-gallery", "aria-labelledby": "gallery-title" },
      h("div", { class: "page-head" }, h("h1", { id: "gallery-title" }, "Gallery"),
        h("button", { type: "button", class: "secondary", onclick: () => this.reload() }, "Refresh gallery")),
      this.empty,
      this.grid,
      h("nav", { class: "pager", "aria-label": "Gallery pages" }, this.prev, this.pageLabel, this.next),
      this.dialog.el,
    );
    ctx.live.addEventListener("job", (event) => {
      if (event.detail.status !== "completed") return;
      if (this.el.hidden) this.stale = true;
      else this.reload();
    });
  }

  async init() {
    await this.reload();
  }

  async show() {
    if (this.stale) await this.reload();
  }

  async reload() {
    this.stale = false;
    try {
      const reply = await api("api/queue/status", { query: { limit: JOBS_READ } });
      const done = reply.queue.jobs.filter((job) => job.status === "completed" && job.outputs.length);
      done.sort((a, b) => (b.end_time || 0) - (a.end_time || 0));
      this.items = done.flatMap((job) => job.outputs.map((output) => ({ job, output })));
      this.render();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  go(page) {
    this.page = page;
    this.render();
    this.grid.querySelector("button")?.focus();
  }

  render() {
    const pages = Math.max(1, Math.ceil(this.items.length / PAGE_SIZE));
    this.page = Math.min(Math.max(1, this.page), pages);
    const shown = this.items.slice((this.page - 1) * PAGE_SIZE, this.page * PAGE_SIZE);
    replace(this.grid, shown.map((item) => this.tile(item)));
    this.empty.hidden = this.items.length > 0;
    this.pageLabel.textContent = `Page ${this.page} of ${pages} (${this.items.length} images)`;
    this.prev.disabled = this.page <= 1;
    this.next.disabled = this.page >= pages;
  }

  tile({ job, output }) {
    const thumb = url(output.thumbnail_url, { thumb: "true", size: THUMB_PX });
    const label = truncate(job.prompt || job.mode, 100);
    return h(
      "li",
      {},
      h(
        "button",
        { type: "button", class: "tile", "aria-label": `Open image: ${label}`, onclick: () => this.dialog.open(job, output) },
        h("img", { src: thumb.href, alt: label, loading: "lazy", width: String(THUMB_PX), height: String(THUMB_PX) }),
      ),
    );
  }
}

class DetailDialog {
  constructor(ctx, onDeleted) {
    this.ctx = ctx;
    this.onDeleted = onDeleted;
    this.body = h("div", { class: "detail-body" });
    this.el = h("dialog", { class: "detail", "aria-labelledby": "detail-title" },
      h("div", { class: "page-head" }, h("h2", { id: "detail-title" }, "Image details"),
        h("button", { type: "button", class: "secondary", onclick: () => this.el.close() }, "Close")),
      this.body);
  }

  open(job, output) {
    const full = url(output.url).href;
    const actions = h(
      "div",
      { class: "actions" },
      h("a", { href: full, download: `${job.id}_${output.filename}`, class: "button" }, "Download"),
      this.action("Use these settings again", () => this.ctx.openGenerate((page) => page.useSettings(job))),
      ...[["img2img", "Send to img2img"], ["inpainting", "Send to inpainting"], ["upscale", "Send to upscale"]].map(
        ([mode, label]) => this.action(label, () => this.ctx.openGenerate((page) => page.sendImage(mode, output))),
      ),
      this.deleteControls(job),
    );
    replace(
      this.body,
      h("a", { href: full, target: "_blank", rel: "noopener" }, h("img", { src: full, alt: job.prompt || output.filename, class: "detail-image" })),
      actions,
      h("h3", {}, "Parameters"),
      parameterList(job),
    );
    this.el.showModal();
  }

  action(label, run) {
    return h("button", { type: "button", class: "secondary", onclick: () => { this.el.close(); run(); } }, label);
  }

  /** Delete asks once more inline (no window.confirm: it would block the page). */
  deleteControls(job) {
    const confirmBox = h("span", { class: "confirm", hidden: true });
    const start = h("button", { type: "button", class: "danger", onclick: () => {
      start.hidden = true;
      confirmBox.hidden = false;
      confirmBox.querySelector("button").focus();
    } }, "Delete");
    const really = h("button", { type: "button", class: "danger", onclick: async () => {
      really.disabled = true;
      try {
        await api(`api/queue/job/${encodeURIComponent(job.id)}`, { method: "DELETE" });
        this.el.close();
        toast("Job and its images deleted.");
        this.onDeleted();
      } catch (error) {
        toast(error.message, "error");
        really.disabled = false;
      }
    } }, "Delete this job and its images");
    const keep = h("button", { type: "button", class: "secondary", onclick: () => { confirmBox.hidden = true; start.hidden = false; start.focus(); } }, "Keep");
    confirmBox.append(really, keep);
    return h("span", {}, start, confirmBox);
  }
}

function parameterList(job) {
  const rows = [
    ["job", job.id],
    ["mode", job.mode],
    ["finished", formatDate(job.end_time)],
    ["took", job.start_time && job.end_time ? formatSeconds(job.end_time - job.start_time) : "–"],
  ];
  for (const [key, value] of Object.entries(job.parameters || {}).sort(([a], [b]) => a.localeCompare(b))) {
    if (value === null || value === "" || (Array.isArray(value) && !value.length)) continue;
    rows.push([key, typeof value === "object" ? JSON.stringify(value) : String(value)]);
  }
  return h("dl", { class: "params" }, rows.map(([key, value]) => [h("dt", {}, key), h("dd", {}, value)]));
}
