/* The live page: act on items as a user and watch recommendations and interests move. */
"use strict";

(() => {
  const { el, svg, api, status, colour, fmt } = Pulse;
  const $ = (id) => document.getElementById(id);
  const USER_STORE = "pulserec.user";
  const USERS_STORE = "pulserec.users";
  const PAGE = 12;
  const ACTIONS = [
    ["view", "View"], ["click", "Click"], ["like", "Like"], ["dislike", "Dislike"],
  ];

  const state = { offset: 0, total: 0, category: "", query: "", refreshes: 0 };
  const itemCache = new Map();

  // ---- user -----------------------------------------------------------------------------
  function user() {
    return $("user-id").value.trim();
  }

  function knownUsers() {
    try {
      return JSON.parse(localStorage.getItem(USERS_STORE) || "[]");
    } catch (_) {
      return [];
    }
  }

  function rememberUser(id) {
    const users = [id, ...knownUsers().filter((u) => u !== id)].slice(0, 20);
    localStorage.setItem(USERS_STORE, JSON.stringify(users));
    localStorage.setItem(USER_STORE, id);
    $("known-users").replaceChildren(...users.map((u) => el("option", { value: u })));
  }

  function setUser(id) {
    $("user-id").value = id;
    rememberUser(id);
    $("rec-user").textContent = id;
    refresh();
  }

  // ---- items ----------------------------------------------------------------------------
  async function ensureItems(ids) {
    const missing = ids.filter((id) => !itemCache.has(id));
    await Promise.all(missing.map(async (id) => {
      try {
        itemCache.set(id, await api(`/v1/items/${encodeURIComponent(id)}`));
      } catch (_) {
        itemCache.set(id, { item_id: id, title: id, text: "", categories: [] });
      }
    }));
  }

  function chips(categories) {
    return el("span", { class: "chips" },
      (categories || []).map((c) => el("span", { class: "chip" }, c)));
  }

  function itemCard(item) {
    const id = item.item_id;
    const note = el("span", { class: "card-note", "aria-live": "polite" });
    const commentBox = el("form", { class: "comment hidden" },
      el("input", { type: "text", placeholder: "Say what you think…", "aria-label": "Comment" }),
      el("button", { type: "submit" }, "Send"));
    commentBox.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = commentBox.querySelector("input");
      const text = input.value.trim();
      if (!text) return;
      send(item, "comment", note, text).then(() => { input.value = ""; });
    });
    const buttons = ACTIONS.map(([type, label]) =>
      el("button", {
        type: "button", class: `act act-${type}`, dataset: { action: type },
        onclick: () => send(item, type, note),
      }, label));
    buttons.push(el("button", {
      type: "button", class: "act", dataset: { action: "comment" },
      onclick: () => {
        commentBox.classList.toggle("hidden");
        commentBox.querySelector("input").focus();
      },
    }, "Comment"));
    const text = item.text || "";
    return el("article", {
      class: "card", dataset: { itemId: id, categories: (item.categories || []).join(" ") },
    },
    el("h3", { class: "card-title", title: id }, item.title || id),
    el("div", { class: "card-meta" }, chips(item.categories),
      item.score !== undefined ? el("span", { class: "muted small" }, `match ${fmt(item.score, 2)}`)
        : null),
    text ? el("p", { class: "card-text" }, text.length > 150 ? text.slice(0, 147) + "…" : text)
      : null,
    el("div", { class: "actions" }, buttons, note),
    commentBox);
  }

  async function loadCatalog() {
    const box = $("items");
    try {
      let items;
      if (state.query) {
        const params = new URLSearchParams({ q: state.query, k: String(PAGE) });
        if (user()) params.set("user_id", user());
        const found = await api(`/v1/search?${params}`);
        await ensureItems(found.items.map((s) => s.item_id));
        items = found.items.map((s) => ({ ...itemCache.get(s.item_id), score: s.score }));
        $("page-info").textContent = `${items.length} results for “${state.query}”`;
        if (user()) refresh(); // a personalised search is a search event of the user
      } else {
        const params = new URLSearchParams({ offset: String(state.offset), limit: String(PAGE) });
        if (state.category) params.set("category", state.category);
        const page = await api(`/v1/items?${params}`);
        page.items.forEach((it) => itemCache.set(it.item_id, it));
        items = page.items;
        state.total = page.total;
        const last = Math.min(page.total, state.offset + items.length);
        $("page-info").textContent = page.total
          ? `${state.offset + 1}–${last} of ${page.total}` : "no items";
      }
      box.replaceChildren(...items.map(itemCard));
      if (!items.length) box.append(el("p", { class: "muted" }, "Nothing here."));
      $("prev").disabled = Boolean(state.query) || state.offset === 0;
      $("next").disabled = Boolean(state.query) || state.offset + PAGE >= state.total;
      status("");
    } catch (err) {
      box.replaceChildren(el("p", { class: "error" }, err.message));
      status(err.message, "error");
    }
  }

  async function loadCategories() {
    // the categories of the first few hundred items: enough for a demo catalog
    const seen = new Map();
    for (let offset = 0; offset < 500; offset += 100) {
      let page;
      try {
        page = await api(`/v1/items?offset=${offset}&limit=100`);
      } catch (_) {
        return;
      }
      for (const it of page.items) {
        itemCache.set(it.item_id, it);
        for (const c of it.categories) seen.set(c, (seen.get(c) || 0) + 1);
      }
      if (offset + 100 >= page.total) break;
    }
    const options = [...seen.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    $("category").replaceChildren(el("option", { value: "" }, "All categories"),
      ...options.map(([c, n]) => el("option", { value: c }, `${c} (${n})`)));
    $("category").value = state.category;
  }

  // ---- events ---------------------------------------------------------------------------
  async function send(item, type, note, text) {
    if (!user()) {
      status("pick or create a user first", "error");
      return;
    }
    const event = {
      user_id: user(), item_id: item.item_id, type,
      timestamp: Date.now() / 1000, event_id: Pulse.randomId("web-"),
    };
    if (text) event.text = text;
    try {
      const result = await api("/v1/events", { method: "POST", body: event });
      if (result.errors && result.errors.length) throw new Error(result.errors[0].message);
      note.textContent = `${type} ✓`;
      $("last-action").textContent =
        `Sent “${type}” on “${item.title || item.item_id}” — recommendations updated.`;
      await refresh();
    } catch (err) {
      note.textContent = "";
      status(err.message, "error");
    }
  }

  // ---- recommendations and profile ------------------------------------------------------
  async function refresh() {
    const id = user();
    $("rec-user").textContent = id || "—";
    if (!id) return;
    const diversity = $("diversity").value;
    const params = new URLSearchParams({ k: "10", diversity });
    const filter = $("rec-filter").value.trim();
    if (filter) params.set("filter", filter);
    if ($("placement").value) params.set("placement", $("placement").value);
    try {
      const [recs, interests] = await Promise.all([
        api(`/v1/users/${encodeURIComponent(id)}/recommendations?${params}`),
        api(`/v1/users/${encodeURIComponent(id)}/interests`).catch((err) => {
          if (err.status === 404) return null;
          throw err;
        }),
      ]);
      if (id !== user()) return; // the user changed meanwhile
      $("filter-error").textContent = "";
      await ensureItems(recs.items.map((r) => r.item_id));
      renderRecs(recs);
      renderProfile(interests);
      state.refreshes += 1;
      $("recs").dataset.refresh = String(state.refreshes);
    } catch (err) {
      if ((err.status === 422 || err.status === 404)
          && (err.field === "filter" || err.field === "placement")) {
        $("filter-error").textContent = err.message; // the list stays as it was
      } else {
        status(err.message, "error");
      }
    }
  }

  async function loadPlacements() {
    try {
      const found = await api("/v1/placements");
      $("placement").replaceChildren(el("option", { value: "" }, "No placement"),
        ...found.placements.map((p) => el("option", { value: p.name }, p.name)));
    } catch (err) {
      status(err.message, "error");
    }
  }

  function renderRecs(recs) {
    const list = $("recs");
    list.replaceChildren(...recs.items.map((r) => {
      const item = itemCache.get(r.item_id) || {};
      const promoted = r.reason === "promoted";
      return el("li", {
        class: promoted ? "rec promoted" : "rec",
        dataset: { itemId: r.item_id, categories: (item.categories || []).join(" ") },
      },
      el("div", { class: "rec-title" }, r.title || r.item_id),
      el("div", { class: "rec-meta" }, chips(item.categories),
        el("span", { class: "muted small" }, fmt(r.score, 2))),
      el("div", { class: "reason" }, r.reason));
    }));
    if (!recs.items.length) list.append(el("li", { class: "muted" }, "No recommendations."));
  }

  function keywordCloud(keywords) {
    if (!keywords || !keywords.length) return el("p", { class: "muted small" }, "none yet");
    const top = Math.max(...keywords.map((k) => k.weight)) || 1;
    return el("div", { class: "keywords" }, keywords.map((k) =>
      el("span", {
        class: "kw", title: `weight ${fmt(k.weight)}`,
        style: `font-size:${(0.8 + 0.45 * (k.weight / top)).toFixed(2)}rem`,
      }, k.keyword)));
  }

  function topicBars(topics) {
    if (!topics || !topics.length) return el("p", { class: "muted small" }, "none yet");
    return el("div", { class: "bars" }, topics.map((t) =>
      el("div", { class: "bar-row", title: `${Math.round(t.share * 100)}%` },
        el("span", { class: "bar-label" }, t.label),
        el("span", { class: "bar" }, el("span", {
          class: "bar-fill",
          style: `width:${Math.max(2, t.share * 100).toFixed(1)}%;background:${colour(t.label)}`,
        })),
        el("span", { class: "bar-value" }, `${Math.round(t.share * 100)}%`))));
  }

  function renderProfile(interests) {
    const box = $("profile");
    if (!interests) {
      $("n-events").textContent = "";
      box.replaceChildren(el("p", { class: "muted" },
        "No events yet: view, click, like or comment on an item and watch this change."));
      $("timeline").replaceChildren();
      return;
    }
    $("n-events").textContent = `${interests.n_events} events`;
    const short = interests.short_term || {};
    const long = interests.long_term || {};
    const cats = (short.categories || []).map((c) => c.category);
    const parts = [
      interests.summary ? el("p", { class: "summary", id: "summary" }, interests.summary) : null,
      el("div", { class: "term" },
        el("h3", {}, "Right now ", el("span", { class: "muted small" }, "short term")),
        keywordCloud(short.keywords),
        cats.length ? el("div", { class: "cats" }, chips(cats)) : null,
        topicBars(short.topics)),
      el("div", { class: "term" },
        el("h3", {}, "Over time ", el("span", { class: "muted small" }, "long term")),
        keywordCloud(long.keywords),
        topicBars(long.topics)),
    ];
    if (interests.queries && interests.queries.length) {
      parts.push(el("p", { class: "small searches" }, "Searches: ",
        interests.queries.slice(-5).map((q) => el("span", { class: "chip" }, q))));
    }
    box.replaceChildren(...parts.filter(Boolean));
    renderTimeline(interests.timeline || []);
  }

  /** Stacked columns: one per recent event (oldest left), split by topic share. */
  function renderTimeline(timeline) {
    const box = $("timeline");
    if (!timeline.length) {
      box.replaceChildren(el("p", { class: "muted small" }, "No topic mix yet."));
      return;
    }
    const width = 360;
    const height = 120;
    const top = 8;
    const left = 28;
    const gap = 3;
    const n = timeline.length;
    const col = Math.min(36, (width - left) / n - gap);
    const chart = svg("svg", {
      viewBox: `0 ${-top} ${width} ${height + 16 + top}`, class: "timeline-chart", role: "img",
      "aria-label": "Topic mix after each recent event",
    });
    for (const frac of [0, 0.5, 1]) {
      const y = height - frac * height;
      chart.append(
        svg("line", { x1: left, x2: width, y1: y, y2: y, class: "grid" }),
        svg("text", { x: left - 4, y: y + 3, class: "axis", "text-anchor": "end" },
          `${frac * 100}%`));
    }
    const labels = new Set();
    timeline.forEach((step, i) => {
      const x = left + gap + i * (col + gap);
      let y = height;
      const entries = Object.entries(step.topics).sort((a, b) => b[1] - a[1]);
      const group = svg("g", { class: "step" },
        svg("title", {}, `${step.item_id}\n` +
          entries.map(([l, s]) => `${l}: ${Math.round(s * 100)}%`).join("\n")));
      for (const [label, share] of entries) {
        const h = share * height;
        y -= h;
        labels.add(label);
        group.append(svg("rect", {
          x, y, width: col, height: Math.max(0, h), fill: colour(label),
        }));
      }
      chart.append(group);
    });
    chart.append(svg("text", { x: left + gap, y: height + 13, class: "axis" }, "older"),
      svg("text", {
        x: left + n * (col + gap), y: height + 13, class: "axis", "text-anchor": "end",
      }, "latest"));
    const legend = el("div", { class: "legend" }, [...labels].map((label) =>
      el("span", { class: "legend-item" },
        el("span", { class: "swatch", style: `background:${colour(label)}` }), label)));
    box.replaceChildren(chart, legend);
  }

  // ---- wiring ---------------------------------------------------------------------------
  function init() {
    Pulse.initKey($("api-key"));
    $("api-key").addEventListener("change", () => {
      Pulse.saveKey($("api-key").value);
      start();
    });
    const users = knownUsers();
    $("known-users").replaceChildren(...users.map((u) => el("option", { value: u })));
    $("user-id").value = localStorage.getItem(USER_STORE) || "";
    $("user-id").addEventListener("change", () => {
      if (user()) setUser(user());
    });
    $("new-user").addEventListener("click", () => setUser(Pulse.randomId("web-").slice(0, 12)));
    $("search-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.query = $("search-q").value.trim();
      state.offset = 0;
      loadCatalog();
    });
    $("search-q").addEventListener("search", () => {
      if (!$("search-q").value.trim()) {
        state.query = "";
        loadCatalog();
      }
    });
    $("category").addEventListener("change", () => {
      state.category = $("category").value;
      state.query = "";
      $("search-q").value = "";
      state.offset = 0;
      loadCatalog();
    });
    $("prev").addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - PAGE);
      loadCatalog();
    });
    $("next").addEventListener("click", () => {
      state.offset += PAGE;
      loadCatalog();
    });
    $("diversity").addEventListener("input", () => {
      $("diversity-value").textContent = Number($("diversity").value).toFixed(1);
    });
    $("diversity").addEventListener("change", refresh);
    $("filter-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      refresh();
    });
    $("placement").addEventListener("change", refresh);
    start();
  }

  function start() {
    if (!Pulse.key()) {
      status("enter an API key (read + ingest scopes)", "error");
      return;
    }
    loadCategories();
    loadPlacements();
    loadCatalog();
    if (user()) {
      rememberUser(user());
      refresh();
    } else {
      renderProfile(null);
    }
  }

  init();
})();
