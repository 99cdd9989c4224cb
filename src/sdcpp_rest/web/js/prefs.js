// Settings that survive a reload, in localStorage: the generate form's values and the last seed.
// Input images are left out (a few of them would fill the browser's quota of a few MB), and so is
// anything secret (api.js keeps the session token on its own).

const FORM_KEY = "sdcpp-rest.generate-form";

export function loadForm() {
  try {
    return JSON.parse(localStorage.getItem(FORM_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

export function saveForm(values) {
  try {
    localStorage.setItem(FORM_KEY, JSON.stringify(values));
  } catch {
    // Quota exceeded or storage disabled: the form still works, it just starts fresh next time.
  }
}
