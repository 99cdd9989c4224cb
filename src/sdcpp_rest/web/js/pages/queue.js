// The Queue page: every queued and running job the caller may see (an admin sees everyone's), live:
// progress, phase, time left, preview, place in the line; a Cancel button on each; Clear queue.

import { api } from "../api.js";
import { formatDate, h, replace, toast } from "../dom.js";
import { ACTIVE_STATUSES, FINAL_STATUSES } from "../live.js";
import { JobCard, truncate } from "./job_view.js";

const RECENT_SHOWN = 10;
// How long a finished job's card stays among the active ones, so its end is seen.
const FINISHED_CARD_MS = 3000;

export class QueuePage {
  constructor(ctx) {
    this.ctx = ctx;
    this.cards = new Map();
    this.summary = h("p", { class: "queue-summary", role: "status" });
    this.clearButton = h("button", { type: "button", class: "danger", onclick: () => this.clearQueue() }, "Clear queue");
    this.active = h("div", { class: "job-list", "aria-label": "Queued and running jobs" });
    this.empty = h("p", { class: "hint" }, "Nothing is queued or running.");
    this.recent = h("ul", { class: "recent-list" });
    this.el = h(
      "section",
      { class: "page page-queue", "aria-labelledby": "queue-title" },
      h("div", { class: "page-head" }, h("h1", { id: "queue-title" }, "Queue"), this.clearButton),
      this.summary,
      this.empty,
      this.active,
      h("h2", {}, "Recently finished"),
      this.recent,
    );
    ctx.live.addEventListener("job", (event) => this.onJob(event.detail));
    ctx.live.addEventListener("queue", () => this.renderSummary());
  }

  async init() {
    await this.refresh();
  }

  async show() {
    await this.refresh();
  }

  async refresh() {
    try {
      const queue = await this.ctx.live.resync(RECENT_SHOWN);
      this.renderAll();
      this.renderRecent(queue.jobs.filter((job) => FINAL_STATUSES.has(job.status)));
    } catch (error) {
      toast(error.message, "error");
    }
  }

  onJob(job) {
    if (ACTIVE_STATUSES.has(job.status) && !this.cards.has(job.id)) {
      // First sight of a job (submitted elsewhere): its prompt comes with the full record.
      if (!job.prompt && !job.mode) this.ctx.live.fetchJob(job.id).catch(() => {});
      this.renderAll();
    } else if (FINAL_STATUSES.has(job.status) && this.cards.has(job.id)) {
      // Leave the finished card a moment so its final state is seen, then move it to the list.
      setTimeout(() => this.renderAll(), FINISHED_CARD_MS);
      this.addRecent(job);
    }
    this.renderSummary();
  }

  activeJobs() {
    const order = (job) => (job.status === "processing" ? 0 : job.position || Number.MAX_SAFE_INTEGER);
    return [...this.ctx.live.jobs.values()].filter((job) => ACTIVE_STATUSES.has(job.status)).sort((a, b) => order(a) - order(b));
  }

  renderAll() {
    const jobs = this.activeJobs();
    const keep = new Set(jobs.map((job) => job.id));
    for (const [id, card] of this.cards) {
      if (!keep.has(id)) {
        card.dispose();
        this.cards.delete(id);
      }
    }
    for (const job of jobs) {
      let card = this.cards.get(job.id);
      if (!card) {
        card = new JobCard(job, this.ctx.live);
        this.cards.set(job.id, card);
      }
      this.active.append(card.el); // in order: running first, then by place in the line
    }
    this.empty.hidden = jobs.length > 0;
    this.renderSummary();
  }

  renderSummary() {
    const jobs = this.activeJobs();
    const running = jobs.filter((job) => job.status === "processing").length;
    const waiting = jobs.length - running;
    this.summary.textContent = `${running} running, ${waiting} waiting`;
    this.clearButton.disabled = waiting === 0;
  }

  renderRecent(jobs) {
    replace(this.recent, jobs.slice(0, RECENT_SHOWN).map((job) => recentItem(job)));
  }

  addRecent(job) {
    this.recent.prepend(recentItem(job));
    while (this.recent.childElementCount > RECENT_SHOWN) this.recent.lastElementChild.remove();
  }

  async clearQueue() {
    this.clearButton.disabled = true;
    try {
      const reply = await api("api/queue/clear", { method: "POST" });
      toast(`${reply.cleared ?? 0} queued job(s) cancelled.`);
      await this.refresh();
    } catch (error) {
      toast(error.message, "error");
    } finally {
      this.renderSummary();
    }
  }
}

function recentItem(job) {
  return h(
    "li",
    { class: `recent status-${job.status}` },
    h("span", { class: `job-status status-${job.status}` }, job.status),
    " ",
    h("span", {}, truncate(job.prompt || job.mode || job.id, 60)),
    " ",
    h("span", { class: "hint" }, formatDate(job.end_time)),
  );
}
