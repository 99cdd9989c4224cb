// The thumbnail beside a model or LoRA picker: the image kept beside the file (`preview_url` in
// GET /api/models), as A1111 and ComfyUI users keep them. With auth on, an <img src> could not send
// the credential (a bearer header), so the image is fetched with it and shown from a blob: URL,
// which the page's CSP allows (img-src 'self' data: blob:). Only the chosen model's image is
// fetched, when it is chosen; a model without one shows its name in text.

import { authHeaders, url } from "../api.js";
import { h } from "../dom.js";

export class ModelPreview {
  /** `select`: the picker; `models()`: the catalog entries it offers (name, preview_url). */
  constructor(select, models, label) {
    this.select = select;
    this.models = models;
    this.label = label;
    this.shown = null; // the preview_url now shown
    this.objectUrl = null;
    this.image = h("img", { class: "model-preview-image", alt: "", loading: "lazy", decoding: "async", hidden: true });
    this.caption = h("figcaption", { class: "hint" });
    this.el = h("figure", { class: "model-preview", hidden: true }, this.image, this.caption);
    for (const type of ["change", "input"]) select.addEventListener(type, () => this.update());
  }

  /** Shows the chosen model's preview; call after the page sets the picker's value itself. */
  async update() {
    const name = this.select.value;
    const model = name ? this.models().find((m) => m.name === name) : null;
    this.el.hidden = !model;
    if (!model) return this.clearImage();
    this.caption.textContent = model.preview_url ? `${this.label}: ${name}` : `${this.label}: ${name} (no preview image)`;
    if (!model.preview_url) return this.clearImage();
    if (model.preview_url === this.shown) return;
    this.shown = model.preview_url;
    const wanted = model.preview_url;
    try {
      const response = await fetch(url(wanted), { headers: authHeaders() });
      if (!response.ok) throw new Error(`preview: HTTP ${response.status}`);
      const blob = await response.blob();
      if (this.shown !== wanted) return; // another model was chosen meanwhile
      this.setObjectUrl(URL.createObjectURL(blob));
      this.image.alt = `Preview of ${name}`;
      this.image.hidden = false;
    } catch {
      // The text stays: the picker works without its picture.
      if (this.shown === wanted) this.clearImage();
    }
  }

  clearImage() {
    this.shown = null;
    this.image.hidden = true;
    this.image.alt = "";
    this.image.removeAttribute("src");
    this.setObjectUrl(null);
  }

  setObjectUrl(objectUrl) {
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = objectUrl;
    if (objectUrl) this.image.src = objectUrl;
  }
}
