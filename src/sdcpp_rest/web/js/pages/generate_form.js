// The generate form's fields. Every list (models, samplers, schedulers, LoRAs, VAEs, ControlNets,
// upscalers) and every range (min, max, step, default) comes from the API (vocab.js). Controls are
// named after the API's fields, so an error naming a field ("width: ...") lands beside it.

import { field, h, select, setFieldError, setOptions, uid } from "../dom.js";
import { stem } from "../vocab.js";
import { ImageInput } from "./image_input.js";
import { LoraPicker } from "./lora.js";
import { MaskPainter } from "./mask.js";
import { ModelPreview } from "./model_preview.js";

export const MODES = [
  { value: "text2img", label: "text2img" },
  { value: "img2img", label: "img2img" },
  { value: "inpainting", label: "Inpainting" },
  { value: "controlnet", label: "ControlNet" },
  { value: "upscale", label: "Upscale" },
];
const CHECKPOINT = ["text2img", "img2img", "inpainting", "controlnet"];
const WITH_INIT = ["img2img", "inpainting", "controlnet"];
// The fields a model's `recommended` settings fill in (GET /api/models): they follow the chosen model
// until the user edits them (an SD1.5 checkpoint 512x512, SDXL 1024x1024 ...).
export const RECOMMENDED_FIELDS = ["width", "height", "steps", "cfg_scale", "sampling_method", "scheduler"];
// Common sizes; only those inside the API's width/height range are offered.
const SIZE_PRESETS = [
  [512, 512], [768, 768], [1024, 1024], [512, 768], [768, 512],
  [832, 1216], [1216, 832], [1024, 576], [576, 1024],
];

function numberInput(name, range) {
  const integer = Number.isInteger(range.step);
  return h("input", {
    type: "number",
    name,
    min: String(range.min),
    max: String(range.max),
    step: String(range.step),
    value: String(range.default),
    inputmode: integer ? "numeric" : "decimal",
  });
}

export class GenerateForm {
  constructor(vocab, { onChange }) {
    this.vocab = vocab;
    this.onChange = onChange;
    this.entries = new Map(); // API field -> {wrapper, control, error}
    this.modeOf = new Map(); // wrapper -> modes it shows in
    this.mode = "text2img";
    this.edited = new Set(); // recommended fields the user set: a model change leaves them alone
    this.el = h("form", { class: "generate-form", novalidate: true, "aria-label": "Generation settings" });
    this.el.addEventListener("submit", (event) => event.preventDefault());
    this.el.addEventListener("input", () => this.onChange());
    this.el.addEventListener("change", () => this.onChange());
    this.build();
  }

  add(name, labelText, control, modes, options = {}) {
    const entry = field(labelText, control, options);
    control.name ||= name;
    this.entries.set(name, entry);
    if (modes) this.modeOf.set(entry.wrapper, modes);
    return entry.wrapper;
  }

  models(type, { none } = {}) {
    const options = this.vocab.models(type).map((model) => ({ value: model.name, label: model.name }));
    return none ? [{ value: "", label: none }, ...options] : options;
  }

  range(name) {
    return this.vocab.ranges[name];
  }

  build() {
    const v = this.vocab;
    const checkpoints = this.models("checkpoint", { none: "Server's default" });
    this.modeRadios = MODES.map((mode) =>
      h("label", { class: "mode-option" },
        h("input", { type: "radio", name: "mode", value: mode.value, checked: mode.value === this.mode }),
        mode.label),
    );
    this.el.addEventListener("change", (event) => {
      if (event.target.name === "mode") this.setMode(event.target.value);
    });
    const modeSwitch = h("fieldset", { class: "mode-switch" }, h("legend", {}, "Mode"), this.modeRadios);

    this.initImage = new ImageInput("init_image", "Init image", {
      onChange: (image) => this.imageChanged(image),
    });
    this.maskPainter = new MaskPainter({ onChange: () => this.onChange(), ranges: v.ranges });
    this.controlImage = new ImageInput("control_image", "Control image", { onChange: () => this.onChange() });
    this.upscaleImage = new ImageInput("image", "Image to upscale", {
      onChange: () => this.onChange(),
    });
    this.images = [this.initImage, this.controlImage, this.upscaleImage];
    this.registerImage(this.initImage, WITH_INIT);
    this.registerImage(this.controlImage, ["controlnet"]);
    this.registerImage(this.upscaleImage, ["upscale"]);
    const maskError = h("p", { class: "field-error", hidden: true });
    this.maskPainter.el.append(maskError);
    this.entries.set("mask_image", { wrapper: this.maskPainter.el, control: this.maskPainter.canvas, error: maskError });
    this.modeOf.set(this.maskPainter.el, ["inpainting"]);

    this.prompt = h("textarea", { rows: "3", placeholder: "What to draw" });
    this.lora = new LoraPicker(this.vocab.models("lora"), this.range("lora_weight"), {
      prompt: this.prompt,
      onChange: () => this.onChange(),
    });
    this.entries.set("loras", { wrapper: this.lora.el, control: this.lora.select, error: this.lora.error });
    this.modeOf.set(this.lora.el, CHECKPOINT);

    const presets = SIZE_PRESETS.filter(([w, hgt]) => this.fits("width", w) && this.fits("height", hgt));
    this.preset = select(
      [{ value: "", label: "Custom" }, ...presets.map(([w, hgt]) => ({ value: `${w}x${hgt}`, label: `${w} × ${hgt}` }))],
      { id: uid("preset") },
    );
    this.preset.addEventListener("change", () => {
      if (!this.preset.value) return;
      const [w, hgt] = this.preset.value.split("x");
      this.control("width").value = w;
      this.control("height").value = hgt;
      this.markEdited("width", "height");
    });
    this.seedRandom = h("input", { type: "checkbox", id: uid("rnd"), checked: true });
    this.seedRandom.addEventListener("change", () => this.syncSeed());
    this.reuseSeed = h("button", { type: "button", class: "secondary small", disabled: true, onclick: () => this.useSeed(this.lastSeed) }, "Reuse last seed");
    const hiresCheck = this.check("hires", "Hires fix");
    this.hiresOn = this.control("hires");
    this.hiresOn.addEventListener("change", () => this.syncHires());

    const sampler = select(v.samplers);
    sampler.value = v.defaultSampler;
    const scheduler = select(v.schedulers);
    scheduler.value = v.defaultScheduler;
    const preview = select(v.words.preview);
    // The cheap latent projection by default: a live preview costs next to nothing with it.
    preview.value = v.words.preview.includes("proj") ? "proj" : v.words.preview[0];
    // Speed presets (/api/parameters `speed`): empty = the server's default_speed.
    const speed = select([{ value: "", label: "Server default" }, ...(v.words.speed || []).map((word) => ({ value: word, label: word }))]);

    this.hiresBox = h("div", { class: "grid-3" },
      this.add("hires.scale", "Hires scale", numberInput("hires.scale", this.range("hires_scale"))),
      this.add("hires.steps", "Hires steps", numberInput("hires.steps", this.range("hires_steps"))),
      this.add("hires.denoising_strength", "Hires denoising strength", numberInput("hires.denoising_strength", this.range("hires_denoising_strength"))),
      this.add("hires.upscaler", "Hires upscaler", select([...v.words.hires_upscaler, ...this.models("esrgan")])),
    );

    this.stylesSelect = h("select", { multiple: true, size: "4" });
    this.setStyles(v.styles || []);
    const modelField = this.add("model_name", "Model", select(checkpoints), CHECKPOINT);
    this.modelPreview = new ModelPreview(this.control("model_name"), () => this.vocab.models("checkpoint"), "Model");
    modelField.append(this.modelPreview.el);
    this.el.append(
      modeSwitch,
      modelField,
      this.add("prompt", "Prompt", this.prompt, CHECKPOINT),
      this.add("negative_prompt", "Negative prompt", h("textarea", { rows: "2", placeholder: "What to avoid" }), CHECKPOINT),
      this.add("styles", "Styles", this.stylesSelect, CHECKPOINT, {
        hint: "Applied in order to the prompts: {prompt} in a style marks your text, else the style is appended. Ctrl/Cmd-click for several.",
      }),
      this.initImage.el, this.maskPainter.el, this.controlImage.el, this.upscaleImage.el,
      this.group("Image to image", WITH_INIT,
        this.add("strength", "Denoising strength", numberInput("strength", this.range("strength"))),
        this.add("resize_mode", "Resize mode", select(v.words.resize_mode)),
        this.add("mask_blur", "Mask blur", numberInput("mask_blur", this.range("mask_blur")), ["inpainting"]),
      ),
      this.group("ControlNet", ["controlnet"],
        this.add("control_net", "ControlNet model", select(this.models("controlnet"))),
        this.add("control_strength", "Control strength", numberInput("control_strength", this.range("control_strength"))),
        this.check("canny", "Canny edges first"),
      ),
      this.group("Size", CHECKPOINT,
        this.add("width", "Width", numberInput("width", this.range("width"))),
        this.add("height", "Height", numberInput("height", this.range("height"))),
        h("div", { class: "field" }, h("label", { for: this.preset.id }, "Size preset"), this.preset),
        h("button", { type: "button", class: "secondary swap", onclick: () => this.swapSize() }, "Swap width and height"),
      ),
      this.group("Sampling", CHECKPOINT,
        this.add("steps", "Steps", numberInput("steps", this.range("steps"))),
        this.add("cfg_scale", "CFG scale", numberInput("cfg_scale", this.range("cfg_scale"))),
        this.add("sampling_method", "Sampler", sampler),
        this.add("scheduler", "Scheduler", scheduler),
        this.add("seed", "Seed", h("input", { type: "number", min: "0", step: "1", inputmode: "numeric" })),
        h("div", { class: "field seed-tools" },
          h("label", { class: "check" }, this.seedRandom, "Random seed"), this.reuseSeed),
        this.add("batch_count", "Batch count", numberInput("batch_count", this.range("batch_count"))),
      ),
      this.lora.el,
      this.group("Upscale", null,
        this.add("upscaler", "Upscaler", select(this.models("esrgan", { none: "None" }))),
        this.add("upscale_factor", "Upscale factor", numberInput("upscale_factor", this.range("upscale_factor"))),
        this.add("upscale_tile_size", "Upscale tile size", numberInput("upscale_tile_size", this.range("upscale_tile_size"))),
      ),
      this.details("More options", CHECKPOINT,
        hiresCheck,
        this.hiresBox,
        this.check("use_taesd", "TAESD decoding (fast, lower quality)"),
        this.add("taesd_path", "TAESD model", select(this.models("taesd", { none: "First in models/taesd" }))),
        this.check("vae_tiling", "VAE tiling (less memory)"),
        this.add("vae_path", "VAE", select(this.models("vae", { none: "The checkpoint's own" }))),
        this.add("clip_skip", "CLIP skip", numberInput("clip_skip", this.range("clip_skip"))),
        this.add("preview", "Live preview", preview),
        this.add("speed", "Speed preset", speed),
      ),
    );
    this.control("seed").value = "";
    // Events fire for the user's edits only (values set by the page fire none).
    for (const name of RECOMMENDED_FIELDS) {
      for (const type of ["input", "change"]) this.control(name).addEventListener(type, () => this.markEdited(name));
    }
    // Before the form's own change listener (the estimate) runs: it sees the model's settings.
    this.control("model_name").addEventListener("change", () => this.applyRecommended());
    this.applyRecommended();
    this.modelPreview.update();
    this.syncSeed();
    this.syncHires();
    this.setMode(this.mode);
  }

  /** The styles offered, keeping the ones chosen that are still there. */
  setStyles(styles) {
    const chosen = new Set([...this.stylesSelect.selectedOptions].map((o) => o.value));
    this.stylesSelect.replaceChildren(
      ...styles.map((style) => h("option", { value: style.name, title: [style.prompt, style.negative_prompt].filter(Boolean).join(" | ") }, style.name)),
    );
    for (const option of this.stylesSelect.options) option.selected = chosen.has(option.value);
    this.stylesSelect.disabled = styles.length === 0;
  }

  markEdited(...names) {
    for (const name of names) this.edited.add(name);
  }

  /** The chosen model's recommended settings; "Server's default" is the only checkpoint when there
   * is one. Null when unknown: the API's own defaults then apply. */
  recommended() {
    const checkpoints = this.vocab.models("checkpoint");
    const name = this.value("model_name");
    const model = name ? checkpoints.find((m) => m.name === name) : checkpoints.length === 1 ? checkpoints[0] : null;
    return model?.recommended || null;
  }

  /** Every recommended field the user has not edited takes the chosen model's value. */
  applyRecommended() {
    const settings = this.recommended();
    const fallback = {
      sampling_method: this.vocab.defaultSampler,
      scheduler: this.vocab.defaultScheduler,
    };
    for (const name of RECOMMENDED_FIELDS) {
      if (this.edited.has(name)) continue;
      const value = settings ? settings[name] : name in fallback ? fallback[name] : this.range(name).default;
      const control = this.control(name);
      if (control.tagName === "SELECT" && ![...control.options].some((o) => o.value === String(value))) continue;
      control.value = String(value);
    }
    const size = `${this.control("width").value}x${this.control("height").value}`;
    this.preset.value = [...this.preset.options].some((o) => o.value === size) ? size : "";
  }

  registerImage(input, modes) {
    this.entries.set(input.name, { wrapper: input.el, control: input.zone, error: input.error });
    this.modeOf.set(input.el, modes);
  }

  group(title, modes, ...children) {
    const el = h("fieldset", { class: "group" }, h("legend", {}, title), h("div", { class: "grid-3" }, children));
    if (modes) this.modeOf.set(el, modes);
    return el;
  }

  details(title, modes, ...children) {
    const el = h("details", { class: "group" }, h("summary", {}, title), h("div", { class: "stack" }, children));
    this.modeOf.set(el, modes);
    return el;
  }

  check(name, labelText) {
    const control = h("input", { type: "checkbox", name });
    const error = h("p", { class: "field-error", hidden: true });
    const wrapper = h("div", { class: "field" }, h("label", { class: "check" }, control, labelText), error);
    this.entries.set(name, { wrapper, control, error });
    return wrapper;
  }

  fits(axis, value) {
    const range = this.range(axis);
    return value >= range.min && value <= range.max;
  }

  control(name) {
    return this.entries.get(name).control;
  }

  setMode(mode) {
    this.mode = mode;
    for (const radio of this.el.querySelectorAll("input[name=mode]")) radio.checked = radio.value === mode;
    for (const [wrapper, modes] of this.modeOf) wrapper.hidden = !modes.includes(mode);
    this.onChange();
  }

  imageChanged(image) {
    this.maskPainter.setImage(image);
    // The API would use the image's size (rounded to 8) anyway; showing it avoids a surprise resize.
    if (image) {
      const step = this.range("width").step;
      for (const [axis, size] of [["width", image.width], ["height", image.height]]) {
        const range = this.range(axis);
        const rounded = Math.min(range.max, Math.max(range.min, Math.round(size / step) * step));
        this.control(axis).value = String(rounded);
      }
      this.markEdited("width", "height");
      this.preset.value = "";
    }
    this.onChange();
  }

  swapSize() {
    const width = this.control("width");
    const height = this.control("height");
    [width.value, height.value] = [height.value, width.value];
    this.markEdited("width", "height");
    this.preset.value = "";
    this.onChange();
  }

  syncSeed() {
    this.control("seed").disabled = this.seedRandom.checked;
  }

  syncHires() {
    this.hiresBox.hidden = !this.hiresOn.checked;
  }

  set lastSeed(seed) {
    this._lastSeed = seed;
    this.reuseSeed.disabled = seed === undefined || seed === null;
  }

  get lastSeed() {
    return this._lastSeed;
  }

  useSeed(seed) {
    if (seed === undefined || seed === null) return;
    this.seedRandom.checked = false;
    this.control("seed").value = String(seed);
    this.syncSeed();
    this.onChange();
  }

  value(name) {
    const control = this.control(name);
    if (control.type === "checkbox") return control.checked;
    if (control.type === "select-multiple") return [...control.selectedOptions].map((o) => o.value);
    if (control.type === "number") {
      if (control.value === "") return null;
      const number = Number(control.value);
      return Number.isFinite(number) ? number : control.value;
    }
    return control.value;
  }

  /** The request body of the current mode, as the API's endpoint takes it. */
  body(mode = this.mode) {
    const pick = (...names) => Object.fromEntries(names.map((name) => [name, this.value(name)]));
    const upscale = this.value("upscaler")
      ? pick("upscaler", "upscale_factor", "upscale_tile_size")
      : {};
    // An image not given is left out: the API then says the field is required, beside it.
    const images = (pairs) => Object.fromEntries(pairs.filter(([, value]) => value));
    if (mode === "upscale") return { ...images([["image", this.upscaleImage.apiValue]]), ...upscale };
    const body = {
      ...pick("prompt", "negative_prompt", "width", "height", "steps", "cfg_scale", "sampling_method", "scheduler"),
      ...pick("batch_count", "clip_skip", "preview"),
      seed: this.seedRandom.checked ? "random" : this.value("seed"),
      loras: this.lora.value(),
      ...upscale,
    };
    for (const name of ["model_name", "vae_path", "taesd_path"]) if (this.value(name)) body[name] = this.value(name);
    if (this.value("styles").length) body.styles = this.value("styles");
    // Only when ticked: a field the body gives wins over the speed preset, which may turn them on.
    for (const name of ["use_taesd", "vae_tiling", "speed"]) if (this.value(name)) body[name] = this.value(name);
    if (this.hiresOn.checked) {
      body.hires = {
        scale: this.value("hires.scale"),
        steps: this.value("hires.steps"),
        denoising_strength: this.value("hires.denoising_strength"),
        upscaler: this.value("hires.upscaler"),
      };
    }
    if (WITH_INIT.includes(mode)) {
      Object.assign(body, pick("strength", "resize_mode"));
      Object.assign(body, images([["init_image", this.initImage.apiValue]]));
    }
    if (mode === "inpainting") Object.assign(body, pick("mask_blur"), images([["mask_image", this.maskPainter.toDataUrl()]]));
    if (mode === "controlnet") {
      Object.assign(body, pick("control_net", "control_strength", "canny"), images([["control_image", this.controlImage.apiValue]]));
    }
    return body;
  }

  /** What the page keeps across reloads: every value but the images. */
  state() {
    const values = {};
    for (const [name, entry] of this.entries) {
      if (this.images.some((image) => image.name === name) || name === "mask_image" || name === "loras") continue;
      const control = entry.control;
      values[name] = control.type === "checkbox" ? control.checked : control.type === "select-multiple" ? this.value(name) : control.value;
    }
    return { mode: this.mode, values, seedRandom: this.seedRandom.checked, hires: this.hiresOn.checked,
      loras: this.lora.value(), lastSeed: this.lastSeed, edited: [...this.edited] };
  }

  restore(state) {
    if (!state || !state.values) return;
    for (const [name, value] of Object.entries(state.values)) {
      const entry = this.entries.get(name);
      if (!entry || entry.control.tagName === "DIV") continue;
      if (entry.control.type === "checkbox") entry.control.checked = Boolean(value);
      else if (entry.control.type === "select-multiple") {
        const chosen = new Set(Array.isArray(value) ? value : []);
        for (const option of entry.control.options) option.selected = chosen.has(option.value);
      }
      // A stored choice that the server no longer offers (a model removed) keeps the default.
      else if (entry.control.tagName !== "SELECT" || [...entry.control.options].some((o) => o.value === value)) {
        entry.control.value = value;
      }
    }
    this.seedRandom.checked = state.seedRandom !== false;
    this.hiresOn.checked = Boolean(state.hires);
    this.lora.setValue(state.loras || []);
    this.lastSeed = state.lastSeed;
    // A form kept by an older page has no record of edits: its size and steps follow the model.
    this.edited = new Set((state.edited || []).filter((name) => RECOMMENDED_FIELDS.includes(name)));
    this.applyRecommended();
    this.modelPreview.update();
    this.syncSeed();
    this.syncHires();
    this.setMode(MODES.some((m) => m.value === state.mode) ? state.mode : "text2img");
  }

  /** Fills the form from a job's stored parameters ("use these settings again"). */
  apply(mode, params) {
    for (const [name, value] of Object.entries(params)) {
      if (!this.entries.has(name) || name === "seed") continue;
      const control = this.control(name);
      // A field the job left empty (no VAE, no upscaler) empties the form's choice too.
      if (value === null && control.tagName === "SELECT" && [...control.options].some((o) => o.value === "")) {
        control.value = "";
        continue;
      }
      // Lists are left alone, `styles` among them: the job's prompt is the one its styles made.
      if (value === null || typeof value === "object") continue;
      if (control.type === "checkbox") control.checked = Boolean(value);
      else if (control.tagName === "SELECT" && ![...control.options].some((o) => o.value === String(value))) continue;
      else if (control.tagName === "INPUT" || control.tagName === "TEXTAREA" || control.tagName === "SELECT") {
        control.value = String(value);
      }
    }
    this.hiresOn.checked = Boolean(params.hires);
    if (params.hires) {
      for (const key of ["scale", "steps", "denoising_strength", "upscaler"]) {
        if (params.hires[key] != null) this.control(`hires.${key}`).value = String(params.hires[key]);
      }
    }
    this.lora.setValue((params.loras || []).map((l) => ({ name: l.name, weight: l.weight })));
    this.modelPreview.update();
    // The job's own settings are a choice: a later model change keeps them.
    this.markEdited(...RECOMMENDED_FIELDS.filter((name) => params[name] !== undefined && params[name] !== null));
    this.syncHires();
    this.preset.value = "";
    if (params.seed !== undefined) this.useSeed(params.seed);
    this.setMode(mode === "upscale" ? "upscale" : mode);
  }

  /** Shows the API's messages beside the fields they name; returns the messages naming none. */
  showErrors(byField) {
    for (const [name, entry] of this.entries) setFieldError(entry, byField.get(name) || null);
  }

  knownFields() {
    return new Set(this.entries.keys());
  }

  refreshModels(vocab) {
    this.vocab = vocab;
    setOptions(this.control("model_name"), this.models("checkpoint", { none: "Server's default" }));
    this.lora.setModels(this.vocab.models("lora"));
    this.setStyles(this.vocab.styles || []);
    this.applyRecommended();
    this.modelPreview.update();
  }
}

export { stem };
