// The page's start: who is signed in (or that authentication is off), the header, the live feed,
// and the hash routes (#/generate, #/queue, ...). Pages are made on first visit and kept, so a
// half-filled form or a running job's card survives a trip to the gallery.

import { ApiError, TOKEN_KEY, api, session } from "./api.js";
import { h, replace, toast } from "./dom.js";
import { LiveFeed } from "./live.js";
import { GalleryPage } from "./pages/gallery.js";
import { GeneratePage } from "./pages/generate.js";
import { loginPage } from "./pages/login.js";
import { ModelsPage } from "./pages/models.js";
import { QueuePage } from "./pages/queue.js";
import { SystemPage } from "./pages/system.js";
import { UsersPage } from "./pages/users.js";
import { forgetVocab } from "./vocab.js";

// `needs`: the permission a page's API calls need; without it the page explains instead.
const PAGES = {
  generate: { title: "Generate", make: (ctx) => new GeneratePage(ctx) },
  queue: { title: "Queue", make: (ctx) => new QueuePage(ctx) },
  gallery: { title: "Gallery", make: (ctx) => new GalleryPage(ctx) },
  models: { title: "Models", make: (ctx) => new ModelsPage(ctx), needs: "models:manage" },
  users: { title: "Users", make: (ctx) => new UsersPage(ctx), needs: "users:manage" },
  system: { title: "System", make: (ctx) => new SystemPage(ctx) },
};
// Renew the session token this long before it expires, so an open page never meets a 401.
const REFRESH_BEFORE_S = 300;

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const sessionBox = document.getElementById("session");
const liveStatus = document.getElementById("live-status");
const who = document.getElementById("who");
const logoutButton = document.getElementById("logout");

const state = { principal: null, authOff: false, live: null, pages: new Map(), refreshTimer: null, routed: false };

function can(permission) {
  return Boolean(state.principal?.permissions?.includes(permission));
}

const ctx = {
  get principal() {
    return state.principal;
  },
  get live() {
    return state.live;
  },
  /** Goes to the Generate page and runs `withPage(page)` once it is ready. */
  async openGenerate(withPage) {
    window.location.hash = "#/generate";
    const entry = await pageEntry("generate");
    await entry.ready;
    await withPage(entry.page);
  },
};

async function boot() {
  window.addEventListener("sdcpp:unauthorized", () => signOut("Your session has ended: log in again."));
  window.addEventListener("hashchange", () => route());
  // Logging out in one tab removes the token for all of them: the others follow at once.
  window.addEventListener("storage", (event) => {
    if (event.key === TOKEN_KEY && !event.newValue && state.principal && !state.authOff && !session.apiKey) {
      signOut("You logged out in another tab.");
    }
  });
  logoutButton.addEventListener("click", () => logout());
  const hadCredential = session.hasCredential;
  try {
    const me = await api("api/auth/me");
    // Without any credential only a server with authentication off answers /me.
    signedIn(me.user, !hadCredential);
  } catch (error) {
    // A stored credential that no longer works has sent the page to the login already (api.js).
    if (error instanceof ApiError && error.status === 401) {
      if (!hadCredential) signOut();
    }
    else replace(main, h("p", { class: "form-error", role: "alert" }, `The server cannot be reached: ${error.message}`));
  }
}

function signedIn(user, authOff) {
  state.principal = user;
  state.authOff = authOff;
  who.textContent = authOff ? "Authentication is off" : `${user.username} (${user.role})`;
  logoutButton.hidden = authOff;
  for (const item of nav.querySelectorAll("[data-admin]")) {
    const page = item.querySelector("a").dataset.page;
    item.hidden = !can(PAGES[page].needs);
  }
  nav.hidden = false;
  sessionBox.hidden = false;
  state.live = new LiveFeed();
  state.live.addEventListener("status", (event) => {
    liveStatus.textContent = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…", offline: "offline" }[event.detail];
    liveStatus.dataset.state = event.detail;
  });
  state.live.addEventListener("refused", () => signOut("The server refused this session: log in again."));
  state.live.start();
  scheduleRefresh();
  replace(main);
  route();
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  const expiry = session.tokenExpiry();
  if (!expiry) return;
  const wait = Math.max(10, expiry - Date.now() / 1000 - REFRESH_BEFORE_S) * 1000;
  state.refreshTimer = setTimeout(async () => {
    try {
      const reply = await api("api/auth/refresh", { method: "POST" });
      session.useToken(reply.token);
      scheduleRefresh();
    } catch {
      // A 401 has already sent the page to the login; anything else is retried by the next call.
    }
  }, wait);
}

async function logout() {
  if (session.token) {
    try {
      await api("api/auth/logout", { method: "POST" });
    } catch {
      // The token is forgotten here either way.
    }
  }
  signOut("You are logged out.");
}

function signOut(message) {
  clearTimeout(state.refreshTimer);
  session.forget();
  if (state.live) state.live.stop();
  state.live = null;
  state.principal = null;
  state.pages.clear();
  forgetVocab();
  nav.hidden = true;
  sessionBox.hidden = true;
  document.title = "Log in · sdcpp-rest";
  replace(main, message ? h("p", { class: "notice", role: "status" }, message) : null, loginPage((user) => signedIn(user, false)));
}

function currentPageName() {
  const name = window.location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  return name in PAGES ? name : "generate";
}

function pageEntry(name) {
  let entry = state.pages.get(name);
  if (!entry) {
    const page = PAGES[name].make(ctx);
    page.el.hidden = true;
    main.append(page.el);
    entry = { page, ready: null };
    entry.ready = page.init().catch((error) => {
      console.error(error);
      page.el.append(h("p", { class: "form-error", role: "alert" }, error.message));
    });
    state.pages.set(name, entry);
  }
  return entry;
}

function refusal(name) {
  const el = h("section", { class: "page page-refused", "aria-labelledby": `refused-${name}` },
    h("h1", { id: `refused-${name}` }, PAGES[name].title),
    h("p", { class: "form-error", role: "alert" },
      `This page is for administrators. You are signed in as ${state.principal.username} (${state.principal.role}).`));
  return { page: { el, show() {} }, ready: Promise.resolve(), refused: true };
}

function route() {
  if (!state.principal) return;
  const name = currentPageName();
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const [, entry] of state.pages) entry.page.el.hidden = true;
  main.querySelector(".page-refused")?.remove();
  document.title = `${PAGES[name].title} · sdcpp-rest`;
  if (PAGES[name].needs && !can(PAGES[name].needs)) {
    main.append(refusal(name).page.el);
    return;
  }
  const isNew = !state.pages.has(name);
  const entry = pageEntry(name);
  const el = entry.page.el;
  el.hidden = false;
  // aria-busy until the page has read what it shows (also what the browser tests wait for).
  el.setAttribute("aria-busy", "true");
  const loaded = isNew ? entry.ready : Promise.resolve(entry.page.show()).catch((error) => toast(error.message, "error"));
  loaded.finally(() => el.removeAttribute("aria-busy"));
  // After a click in the menu, put screen readers and keyboards at the new page's heading.
  if (state.routed) main.focus({ preventScroll: true });
  state.routed = true;
}

boot();
