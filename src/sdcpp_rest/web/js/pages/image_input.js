// An image input: file picker, drag and drop, paste (the page routes pastes to the focused or first
// visible input). Its value is {dataUrl, width, height, name} or null; the API takes the data: URL
// as base64 text.

import { blobAsImage } from "../api.js";
import { h, uid } from "../dom.js";

export class ImageInput {
  /** `name` is the API field (init_image, mask_image, control_image, image). */
  constructor(name, labelText, { onChange, optional = false } = {}) {
    this.name = name;
    this.value = null;
    this.onChange = onChange || (() => {});
    const fileId = uid("file");
    this.file = h("input", {
      type: "file",
      id: fileId,
      accept: "image/png,image/jpeg,image/webp",
      class: "visually-hidden-file",
      "aria-label": `${labelText}: choose a file`,
      onchange: () => {
        if (this.file.files[0]) this.load(this.file.files[0]);
      },
    });
    this.preview = h("img", { class: "input-preview", alt: labelText, hidden: true });
    this.info = h("span", { class: "hint" }, optional ? "Optional." : "");
    this.removeButton = h(
      "button",
      { type: "button", class: "secondary small", hidden: true, onclick: () => this.set(null) },
      `Remove ${labelText.toLowerCase()}`,
    );
    this.error = h("p", { class: "field-error", id: uid("err"), hidden: true, role: "alert" });
    this.zone = h(
      "div",
      {
        class: "drop-zone",
        tabindex: "0",
        role: "group",
        "aria-label": labelText,
        "aria-describedby": this.error.id,
        dataset: { field: name },
      },
      h("span", { class: "drop-title" }, labelText),
      h(
        "span",
        { class: "drop-help" },
        "Drop an image here, paste one, or ",
        h("label", { for: fileId, class: "file-button" }, "choose a file"),
      ),
      this.file,
      this.preview,
      h("span", { class: "drop-footer" }, this.info, this.removeButton),
      this.error,
    );
    this.zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      this.zone.classList.add("dragging");
    });
    this.zone.addEventListener("dragleave", () => this.zone.classList.remove("dragging"));
    this.zone.addEventListener("drop", (event) => {
      event.preventDefault();
      this.zone.classList.remove("dragging");
      const item = [...(event.dataTransfer?.files || [])].find((f) => f.type.startsWith("image/"));
      if (item) this.load(item);
    });
    this.el = this.zone;
  }

  async load(blob) {
    try {
      const image = await blobAsImage(blob);
      this.set({ ...image, name: blob.name || "pasted image" });
    } catch (error) {
      this.showError(error.message);
    }
  }

  set(value) {
    this.value = value;
    this.file.value = "";
    this.preview.hidden = !value;
    this.removeButton.hidden = !value;
    if (value) this.preview.src = value.dataUrl;
    else this.preview.removeAttribute("src");
    this.info.textContent = value ? `${value.name}, ${value.width}×${value.height}` : "";
    this.showError(null);
    this.onChange(value);
  }

  showError(message) {
    this.error.hidden = !message;
    this.error.textContent = message || "";
  }

  /** The field's text for the API: the data: URL (the server accepts it with its prefix). */
  get apiValue() {
    return this.value ? this.value.dataUrl : null;
  }
}
