// The Generate page: the form, the estimate (POST /api/estimate) and the API's own checks
// (POST /api/validate) as the form changes, Generate (or Ctrl+Enter), and the submitted jobs' live
// progress and results.

import { ApiError, api, imageAsDataUrl, splitFieldErrors } from "../api.js";
import { debounce, formatBytes, formatSeconds, h, replace, toast } from "../dom.js";
import { FINAL_STATUSES } from "../live.js";
import { loadForm, saveForm } from "../prefs.js";
import { loadVocab } from "../vocab.js";
import { GenerateForm } from "./generate_form.js";
import { JobCard } from "./job_view.js";

// The estimate and checks follow typing without a request per key press.
const CHECK_DELAY_MS = 400;
const RESULTS_KEPT = 6;
// Above this an estimate gets a visible warning: a fresh form's job should take minutes, not hours.
const LONG_ESTIMATE_SECONDS = 5 * 60;
// The fields POST /api/estimate takes: text2img's (it refuses unknown fields).
const IMAGE_ONLY_FIELDS = [
  "init_image", "strength", "resize_mode", "mask_image", "mask_blur", "invert_mask",
  "control_image", "control_net", "control_strength", "canny",
];

export class GeneratePage {
  constructor(ctx) {
    this.ctx = ctx;
    this.cards = [];
    this.checkSeq = 0;
    this.el = h("section", { class: "page page-generate", "aria-labelledby": "generate-title" },
      h("h1", { id: "generate-title" }, "Generate"), h("p", { class: "loading" }, "Loading…"));
  }

  async init() {
    this.vocab = await loadVocab();
    this.generateButton = h("button", { type: "button", class: "primary generate", onclick: () => this.submit() }, "Generate");
    this.estimate = h("p", { class: "estimate", role: "status", "aria-live": "polite" });
    this.longWarning = h("p", { class: "estimate-warning", role: "alert", hidden: true });
    this.formError = h("div", { class: "form-error", role: "alert", hidden: true });
    this.results = h("div", { class: "results", "aria-label": "Submitted jobs" });
    this.form = new GenerateForm(this.vocab, { onChange: () => this.changed() });
    this.form.restore(loadForm());
    const side = h("div", { class: "generate-side" },
      h("div", { class: "submit-box" }, this.generateButton,
        h("p", { class: "hint" }, "Ctrl+Enter generates from anywhere on this page."), this.estimate, this.longWarning, this.formError),
      h("h2", {}, "Jobs"), this.results,
      h("p", { class: "hint" }, "All of them, with older ones, are on the ", h("a", { href: "#/queue" }, "Queue"), " and ",
        h("a", { href: "#/gallery" }, "Gallery"), " pages."));
    if (!this.vocab.models("checkpoint").length) {
      this.formError.hidden = false;
      replace(this.formError, "No checkpoint found: put one in the models folder's checkpoints/ and rescan (Models page).");
    }
    replace(this.el, h("h1", { id: "generate-title" }, "Generate"), h("div", { class: "generate-layout" }, this.form.el, side));
    this.el.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.submit();
      }
    });
    // A finished job changes the queue and what the estimate has learned from.
    this.ctx.live.addEventListener("job", (event) => {
      if (FINAL_STATUSES.has(event.detail.status) && !this.el.hidden) this.recheck();
    });
    // A pasted image goes to the image input that has the focus, else the first one on show.
    document.addEventListener("paste", (event) => this.paste(event));
    this.check();
  }

  show() {
    if (this.form) this.recheck();
  }

  paste(event) {
    if (this.el.hidden || !this.form) return;
    const file = [...(event.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (!file) return;
    const visible = this.form.images.filter((input) => !input.el.hidden);
    const target = visible.find((input) => input.el.contains(document.activeElement)) || visible[0];
    if (!target) return;
    event.preventDefault();
    target.load(file);
  }

  changed() {
    if (!this.form) return;
    saveForm(this.form.state());
    this.estimate.classList.add("stale"); // until the check of the new values answers
    this.check();
  }

  check = debounce(() => this.runChecks(), CHECK_DELAY_MS);

  recheck() {
    this.estimate.classList.add("stale");
    this.check();
  }

  /** /api/validate for field errors, then /api/estimate for the time; the newest call wins. */
  async runChecks() {
    const seq = ++this.checkSeq;
    const mode = this.form.mode;
    const body = this.form.body();
    try {
      const result = await api("api/validate", { method: "POST", body, query: { mode } });
      if (seq !== this.checkSeq) return;
      this.showIssues(result.errors || []);
      if (!result.valid || mode === "upscale") {
        this.longWarning.hidden = true;
        this.estimate.classList.remove("stale");
        this.estimate.textContent = mode === "upscale" ? "" : "Fix the fields marked above to see an estimate.";
        return;
      }
      const estimate = await api("api/estimate", { method: "POST", body: estimateBody(body) });
      if (seq !== this.checkSeq) return;
      this.showEstimate(estimate, mode);
    } catch (error) {
      if (seq === this.checkSeq && error instanceof ApiError) {
        this.longWarning.hidden = true;
        this.estimate.classList.remove("stale");
        this.estimate.textContent = `No estimate: ${error.message}`;
      }
    }
  }

  showIssues(issues) {
    const known = this.form.knownFields();
    const byField = new Map();
    const rest = [];
    for (const issue of issues) {
      const [name, message] = [issue.field, issue.message];
      const target = known.has(name) ? name : [...known].find((k) => name.startsWith(`${k}.`));
      if (target) byField.set(target, byField.has(target) ? `${byField.get(target)}; ${message}` : message);
      else rest.push(name && name !== "body" ? `${name}: ${message}` : message);
    }
    this.form.showErrors(byField);
    this.formError.hidden = rest.length === 0;
    replace(this.formError, rest.join("; "));
  }

  showEstimate(estimate, mode) {
    const b = estimate.breakdown;
    const parts = [];
    if (b.queue_wait_seconds > 0.5) parts.push(`${formatSeconds(b.queue_wait_seconds)} waiting`);
    if (b.load_seconds > 0.5) parts.push(`${formatSeconds(b.load_seconds)} loading`);
    parts.push(`${formatSeconds(b.sampling_seconds)} sampling`);
    const memory = estimate.memory ? ` · peak memory ${formatBytes(estimate.memory.peak_bytes)}` : "";
    const basis = { measured: "from earlier jobs", scaled: "scaled from earlier jobs", default: "no history yet" }[estimate.basis] || estimate.basis;
    const asText2img = mode === "text2img" ? "" : " (as text2img)";
    this.estimate.classList.remove("stale");
    this.estimate.textContent = `Estimated ${formatSeconds(estimate.estimated_seconds)}${asText2img}: ${parts.join(", ")}${memory} — ${basis}`;
    this.showLongWarning(estimate.estimated_seconds);
  }

  showLongWarning(seconds) {
    this.longWarning.hidden = !(seconds > LONG_ESTIMATE_SECONDS);
    if (this.longWarning.hidden) return;
    const settings = this.form.recommended();
    const advice = settings
      ? ` This model is usually run at ${settings.width} × ${settings.height}, ${settings.steps} steps.`
      : " A smaller size or fewer steps make it faster.";
    replace(this.longWarning, `This job would take long: about ${formatSeconds(seconds)}.${advice}`);
  }

  async submit() {
    if (!this.form || this.generateButton.disabled) return;
    this.check.cancel();
    this.checkSeq += 1; // a check still in flight must not overwrite what the submit shows
    const mode = this.form.mode;
    const body = this.form.body();
    this.generateButton.disabled = true;
    try {
      const reply = await api(`api/generate/${mode}`, { method: "POST", body });
      this.form.showErrors(new Map());
      this.formError.hidden = true;
      this.form.lastSeed = reply.seed;
      saveForm(this.form.state());
      this.track({ id: reply.job_id, status: reply.status, position: reply.position, seed: reply.seed, prompt: body.prompt, mode });
    } catch (error) {
      await this.showSubmitError(error, mode, body);
    } finally {
      this.generateButton.disabled = false;
      this.recheck(); // one more job ahead of the next
    }
  }

  /** The API's message beside the field it names; /api/validate says which when the message does not. */
  async showSubmitError(error, mode, body) {
    const { fields, rest } = splitFieldErrors(error.message, this.form.knownFields());
    if (fields.size === 0 && error.status >= 400 && error.status < 500) {
      try {
        const result = await api("api/validate", { method: "POST", body, query: { mode } });
        if (result.errors?.length) {
          this.showIssues(result.errors);
          return;
        }
      } catch {
        // fall through to the message as it came
      }
    }
    this.form.showErrors(fields);
    this.formError.hidden = rest.length === 0;
    replace(this.formError, rest.join("; "));
    const first = this.form.el.querySelector("[aria-invalid=true]");
    if (first) first.focus();
  }

  track(job) {
    const known = this.ctx.live.merge(job);
    const card = new JobCard(known, this.ctx.live);
    this.cards.unshift(card);
    this.results.prepend(card.el);
    while (this.cards.length > RESULTS_KEPT) this.cards.pop().dispose();
    // The prompt, parameters and (when it already finished) outputs, should the feed be behind.
    this.ctx.live.fetchJob(job.id).catch(() => {});
  }

  /** "Use these settings again" from the gallery. */
  useSettings(job) {
    this.form.apply(job.mode, job.parameters || {});
    this.form.showErrors(new Map());
    toast("Settings loaded from the job.");
  }

  /** "Send to img2img / inpainting / upscale": an output becomes the input image of that mode. */
  async sendImage(mode, output) {
    try {
      const image = { ...(await imageAsDataUrl(output.url)), name: output.filename };
      this.form.setMode(mode);
      (mode === "upscale" ? this.form.upscaleImage : this.form.initImage).set(image);
    } catch (error) {
      toast(error.message, "error");
    }
  }
}

function estimateBody(body) {
  const copy = { ...body };
  for (const name of IMAGE_ONLY_FIELDS) delete copy[name];
  for (const axis of ["width", "height"]) if (copy[axis] === null) delete copy[axis];
  return copy;
}
