// One job as a card: status, phase, a progress bar with step count and time remaining, the live
// preview, its place in the queue, a Cancel button, and the images once it is done. The Generate
// and Queue pages show these; the card follows the live feed by itself.

import { api, url } from "../api.js";
import { formatSeconds, h, replace, toast } from "../dom.js";
import { FINAL_STATUSES } from "../live.js";

const PHASES = {
  loading: "loading the model",
  encoding: "encoding the prompt",
  sampling: "sampling",
  decoding: "decoding",
  saving: "saving",
};

export class JobCard {
  constructor(job, live) {
    this.live = live;
    this.id = job.id;
    this.title = h("h3", { class: "job-title" });
    this.statusText = h("span", { class: "job-status" });
    this.progress = h("progress", { max: "100", value: "0", "aria-label": "Progress" });
    this.percent = h("span", { class: "job-percent" }, "0%");
    this.steps = h("span", { class: "job-steps" });
    this.remaining = h("span", { class: "job-remaining" });
    this.position = h("p", { class: "job-position" });
    this.preview = h("img", { class: "job-preview", alt: "Live preview", hidden: true });
    this.outputs = h("div", { class: "job-outputs" });
    this.error = h("p", { class: "job-error", role: "alert", hidden: true });
    this.cancelButton = h(
      "button",
      { type: "button", class: "danger small", onclick: () => this.cancel() },
      "Cancel",
    );
    this.el = h(
      "article",
      { class: "job-card", dataset: { jobId: job.id } },
      h("header", { class: "job-head" }, this.title, this.cancelButton),
      h("p", { class: "job-line" }, this.statusText),
      h("div", { class: "job-progress" }, this.progress, this.percent),
      h("p", { class: "job-line job-meta" }, this.steps, this.remaining),
      this.position,
      this.preview,
      this.error,
      this.outputs,
    );
    this.onJob = (event) => {
      if (event.detail.id === this.id) this.render(event.detail);
    };
    live.addEventListener("job", this.onJob);
    this.render(job);
  }

  dispose() {
    this.live.removeEventListener("job", this.onJob);
    this.el.remove();
  }

  render(job) {
    this.job = job;
    const status = job.status || "queued";
    this.el.dataset.status = status;
    this.title.textContent = job.prompt ? truncate(job.prompt, 80) : `${job.mode || "job"} ${job.id.slice(0, 8)}`;
    this.title.title = job.prompt || "";
    const phase = status === "processing" && job.phase ? ` · ${PHASES[job.phase] || job.phase}` : "";
    this.statusText.textContent = `${status}${phase}`;
    this.statusText.className = `job-status status-${status}`;
    const percent = status === "completed" ? 100 : Math.round((job.progress || 0) * 100);
    this.progress.value = percent;
    this.percent.textContent = `${percent}%`;
    this.steps.textContent = job.total_steps ? `Step ${job.current_step || 0} of ${job.total_steps}` : "";
    this.remaining.textContent =
      status === "processing" && job.time_remaining != null ? `${formatSeconds(job.time_remaining / 1000)} left` : "";
    this.position.hidden = status !== "queued" || !job.position;
    this.position.textContent = job.position ? `Position ${job.position} in the queue` : "";
    const preview = job.preview;
    if (preview && preview.data && !FINAL_STATUSES.has(status)) {
      this.preview.src = `data:${preview.mime_type || "image/jpeg"};base64,${preview.data}`;
      this.preview.hidden = false;
    } else if (FINAL_STATUSES.has(status)) {
      this.preview.hidden = true;
      this.preview.removeAttribute("src");
    }
    this.cancelButton.hidden = FINAL_STATUSES.has(status);
    this.cancelButton.setAttribute("aria-label", `Cancel job ${this.title.textContent}`);
    this.error.hidden = !job.error;
    this.error.textContent = job.error ? `${job.error_code ? `${job.error_code}: ` : ""}${job.error}` : "";
    if (status === "completed" && job.outputs && this.outputs.childElementCount !== job.outputs.length) {
      replace(
        this.outputs,
        job.outputs.map((output) =>
          h(
            "a",
            { href: url(output.url).href, target: "_blank", rel: "noopener", class: "output-link" },
            h("img", { src: url(output.url).href, alt: `Result ${output.filename}`, class: "job-output" }),
          ),
        ),
      );
    }
  }

  async cancel() {
    this.cancelButton.disabled = true;
    try {
      await api("api/queue/cancel", { method: "POST", body: { job_id: this.id } });
      await this.live.fetchJob(this.id);
    } catch (error) {
      toast(error.message, "error");
    } finally {
      this.cancelButton.disabled = false;
    }
  }
}

export function truncate(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}
