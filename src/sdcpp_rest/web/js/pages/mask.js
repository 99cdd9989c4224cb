// The inpainting mask, painted over the init image: brush size, eraser, clear, invert.
// The visible canvas holds the strokes at the image's own pixel size (tinted, half transparent); the
// mask sent to the API is white where painted (repaint) and black elsewhere, of the same size.

import { h, uid } from "../dom.js";

const STROKE_COLOUR = "rgb(255, 64, 160)";

export class MaskPainter {
  constructor({ onChange, ranges } = {}) {
    this.onChange = onChange || (() => {});
    this.width = 0;
    this.height = 0;
    this.erasing = false;
    this.painted = false;
    this.image = h("img", { class: "mask-image", alt: "Init image under the mask" });
    this.canvas = h("canvas", {
      class: "mask-canvas",
      "aria-label": "Mask: paint the part to repaint",
      role: "img",
    });
    const sizeId = uid("brush");
    const maxBrush = ranges?.width?.max ? Math.min(256, ranges.width.max / 4) : 256;
    this.brush = h("input", { type: "range", id: sizeId, min: "1", max: String(maxBrush), value: "24" });
    this.brushValue = h("output", { for: sizeId }, "24 px");
    this.brush.addEventListener("input", () => (this.brushValue.textContent = `${this.brush.value} px`));
    this.eraser = h(
      "button",
      { type: "button", class: "secondary small", "aria-pressed": "false", onclick: () => this.toggleEraser() },
      "Eraser",
    );
    this.empty = h("p", { class: "hint" }, "Add an init image above to paint its mask.");
    this.stage = h("div", { class: "mask-stage", hidden: true }, this.image, this.canvas);
    this.el = h(
      "div",
      { class: "mask-painter", dataset: { field: "mask_image" } },
      h("p", { class: "drop-title" }, "Mask"),
      this.empty,
      this.stage,
      h(
        "div",
        { class: "mask-tools" },
        h("label", { for: sizeId }, "Brush size"),
        this.brush,
        this.brushValue,
        this.eraser,
        h("button", { type: "button", class: "secondary small", onclick: () => this.clear() }, "Clear mask"),
        h("button", { type: "button", class: "secondary small", onclick: () => this.invert() }, "Invert mask"),
      ),
    );
    this.bindPointer();
  }

  /** A new init image (or null): the mask starts empty at its size. */
  setImage(image) {
    this.stage.hidden = !image;
    this.empty.hidden = Boolean(image);
    if (!image) {
      this.width = this.height = 0;
      return;
    }
    this.image.src = image.dataUrl;
    this.width = this.canvas.width = image.width;
    this.height = this.canvas.height = image.height;
    this.painted = false;
    this.context().clearRect(0, 0, this.width, this.height);
  }

  context() {
    return this.canvas.getContext("2d", { willReadFrequently: true });
  }

  toggleEraser() {
    this.erasing = !this.erasing;
    this.eraser.setAttribute("aria-pressed", String(this.erasing));
  }

  bindPointer() {
    let last = null;
    const point = (event) => {
      const rect = this.canvas.getBoundingClientRect();
      return {
        x: ((event.clientX - rect.left) * this.width) / rect.width,
        y: ((event.clientY - rect.top) * this.height) / rect.height,
      };
    };
    // The brush size is in screen pixels: the same feel whatever the image's size on screen.
    const scale = () => this.width / this.canvas.getBoundingClientRect().width || 1;
    const draw = (from, to) => {
      const ctx = this.context();
      ctx.globalCompositeOperation = this.erasing ? "destination-out" : "source-over";
      ctx.strokeStyle = STROKE_COLOUR;
      ctx.lineWidth = Number(this.brush.value) * scale();
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(from.x, from.y);
      ctx.lineTo(to.x + 0.01, to.y);
      ctx.stroke();
    };
    this.canvas.addEventListener("pointerdown", (event) => {
      if (!this.width) return;
      event.preventDefault();
      this.canvas.setPointerCapture(event.pointerId);
      last = point(event);
      draw(last, last);
    });
    this.canvas.addEventListener("pointermove", (event) => {
      if (!last) return;
      const next = point(event);
      draw(last, next);
      last = next;
    });
    const end = () => {
      if (!last) return;
      last = null;
      this.painted = true;
      this.onChange();
    };
    this.canvas.addEventListener("pointerup", end);
    this.canvas.addEventListener("pointercancel", end);
  }

  clear() {
    this.context().clearRect(0, 0, this.width, this.height);
    this.painted = false;
    this.onChange();
  }

  /** Painted becomes unpainted and the other way round. */
  invert() {
    if (!this.width) return;
    const ctx = this.context();
    const pixels = ctx.getImageData(0, 0, this.width, this.height);
    const [r, g, b] = [255, 64, 160];
    for (let i = 0; i < pixels.data.length; i += 4) {
      pixels.data[i] = r;
      pixels.data[i + 1] = g;
      pixels.data[i + 2] = b;
      pixels.data[i + 3] = 255 - pixels.data[i + 3];
    }
    ctx.putImageData(pixels, 0, 0);
    this.painted = true;
    this.onChange();
  }

  /** The mask as a PNG data: URL (white = repaint), or null without an image. */
  toDataUrl() {
    if (!this.width) return null;
    const strokes = this.context().getImageData(0, 0, this.width, this.height);
    const out = document.createElement("canvas");
    out.width = this.width;
    out.height = this.height;
    const outCtx = out.getContext("2d");
    const mask = outCtx.createImageData(this.width, this.height);
    for (let i = 0; i < strokes.data.length; i += 4) {
      const value = strokes.data[i + 3]; // the stroke's coverage, soft edges included
      mask.data[i] = mask.data[i + 1] = mask.data[i + 2] = value;
      mask.data[i + 3] = 255;
    }
    outCtx.putImageData(mask, 0, 0);
    return out.toDataURL("image/png");
  }

  /** Share of the image painted, 0..1 (what the tests and the hint read). */
  coverage() {
    if (!this.width) return 0;
    const data = this.context().getImageData(0, 0, this.width, this.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 127) painted += 1;
    return painted / (this.width * this.height);
  }
}
