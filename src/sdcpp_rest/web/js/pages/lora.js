// The LoRA picker: a LoRA from models/lora and a weight, then either "Insert into prompt"
// (writes <lora:NAME:WEIGHT> at the cursor) or "Add to list" (the request's `loras` field).

import { h, replace, select, setOptions, uid } from "../dom.js";
import { stem } from "../vocab.js";
import { ModelPreview } from "./model_preview.js";

export class LoraPicker {
  constructor(models, weightRange, { prompt, onChange }) {
    this.prompt = prompt;
    this.onChange = onChange;
    this.range = weightRange;
    this.items = [];
    this.select = select([], { id: uid("lora") });
    this.models = [];
    this.preview = new ModelPreview(this.select, () => this.models, "LoRA");
    this.weight = h("input", {
      type: "number",
      id: uid("lw"),
      min: String(weightRange.min),
      max: String(weightRange.max),
      step: String(weightRange.step),
      value: String(weightRange.default),
      inputmode: "decimal",
    });
    this.list = h("ul", { class: "lora-list", "aria-label": "LoRAs of the request" });
    this.error = h("p", { class: "field-error", hidden: true });
    this.empty = h("p", { class: "hint" }, "No LoRA in models/lora.");
    this.tools = h(
      "div",
      { class: "lora-tools" },
      h("div", { class: "field" }, h("label", { for: this.select.id }, "LoRA"), this.select),
      h("div", { class: "field" }, h("label", { for: this.weight.id }, "LoRA weight"), this.weight),
      h("button", { type: "button", class: "secondary small", onclick: () => this.insert() }, "Insert into prompt"),
      h("button", { type: "button", class: "secondary small", onclick: () => this.addToList() }, "Add to list"),
    );
    this.el = h(
      "fieldset",
      { class: "group", dataset: { field: "loras" } },
      h("legend", {}, "LoRA"),
      this.empty,
      this.tools,
      this.preview.el,
      this.list,
      this.error,
    );
    this.setModels(models);
  }

  setModels(models) {
    this.models = models;
    setOptions(this.select, models.map((model) => ({ value: model.name, label: model.name })));
    this.empty.hidden = models.length > 0;
    this.tools.hidden = models.length === 0;
    this.preview.update();
  }

  currentWeight() {
    const weight = Number(this.weight.value);
    return Number.isFinite(weight) ? weight : this.range.default;
  }

  insert() {
    if (!this.select.value) return;
    const tag = `<lora:${stem(this.select.value)}:${this.currentWeight()}>`;
    const { selectionStart, selectionEnd, value } = this.prompt;
    const start = selectionStart ?? value.length;
    const end = selectionEnd ?? value.length;
    const before = value.slice(0, start);
    const spacer = before && !/\s$/.test(before) ? " " : "";
    this.prompt.value = `${before}${spacer}${tag}${value.slice(end)}`;
    const caret = start + spacer.length + tag.length;
    this.prompt.focus();
    this.prompt.setSelectionRange(caret, caret);
    this.onChange();
  }

  addToList() {
    if (!this.select.value) return;
    const existing = this.items.find((item) => item.name === this.select.value);
    if (existing) existing.weight = this.currentWeight();
    else this.items.push({ name: this.select.value, weight: this.currentWeight() });
    this.render();
    this.onChange();
  }

  value() {
    return this.items.map((item) => ({ name: item.name, weight: item.weight }));
  }

  setValue(items) {
    this.items = items.map((item) => ({ name: item.name, weight: item.weight }));
    this.render();
  }

  render() {
    replace(
      this.list,
      this.items.map((item, index) => {
        const weight = h("input", {
          type: "number",
          min: String(this.range.min),
          max: String(this.range.max),
          step: String(this.range.step),
          value: String(item.weight),
          "aria-label": `Weight of ${item.name}`,
          oninput: () => {
            item.weight = Number(weight.value);
            this.onChange();
          },
        });
        return h(
          "li",
          {},
          h("span", { class: "lora-name" }, item.name),
          weight,
          h(
            "button",
            {
              type: "button",
              class: "secondary small",
              "aria-label": `Remove ${item.name}`,
              onclick: () => {
                this.items.splice(index, 1);
                this.render();
                this.onChange();
              },
            },
            "Remove",
          ),
        );
      }),
    );
  }
}
