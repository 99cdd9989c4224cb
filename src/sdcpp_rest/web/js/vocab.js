// What the generate form offers, all read from the API: samplers, schedulers, parameter ranges,
// the fixed word lists of some fields, the model files of every type and the prompt styles.

import { api } from "./api.js";

let cached = null;

/** Loads once per sign-in; `reload` reads the models again (after a rescan). */
export async function loadVocab({ reload = false } = {}) {
  if (cached && !reload) return cached;
  const [samplers, schedulers, parameters, models, styles] = await Promise.all([
    api("api/samplers"),
    api("api/schedulers"),
    api("api/parameters"),
    api("api/models", { query: { limit: 0, sort_by: "name" } }),
    // A server without prompt styles (an older one) answers 404: the form then offers none.
    api("api/styles").catch(() => ({ styles: [] })),
  ]);
  const byType = {};
  for (const model of models.models) {
    if (model.error) continue; // a damaged file would only fail the job
    (byType[model.type] ||= []).push(model);
  }
  cached = {
    samplers: samplers.samplers,
    defaultSampler: samplers.default,
    schedulers: schedulers.schedulers,
    defaultScheduler: schedulers.default,
    ranges: parameters.parameters,
    // Older servers answer without these lists: offer what every version accepts.
    words: { resize_mode: ["resize"], hires_upscaler: ["latent"], preview: ["none"], ...parameters.vocabularies },
    models: (type) => byType[type] || [],
    // The styles the user's requests apply (their own over shared ones of the same name).
    styles: styles.styles.filter((style) => style.usable),
  };
  return cached;
}

export function forgetVocab() {
  cached = null;
}

/** A model's name as the prompt's <lora:NAME:W> takes it: without its extension. */
export function stem(name) {
  return name.replace(/\.(safetensors|ckpt|pt|pth|bin|gguf)$/i, "");
}
