/* The operator dashboard: polls the admin routes every few seconds. */
"use strict";

(() => {
  const { el, svg, api, status, fmt } = Pulse;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 3000;
  const samples = []; // [seconds, events_ingested]
  const rates = [];
  let timer = null;

  function sparkline(values) {
    const width = 160;
    const height = 32;
    if (values.length < 2) return svg("svg", { viewBox: `0 0 ${width} ${height}` });
    const top = Math.max(...values, 1e-9);
    const step = width / (values.length - 1);
    const points = values.map((v, i) =>
      `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`);
    return svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none" },
      svg("polyline", { points: points.join(" "), class: "spark-line" }));
  }

  function renderStatus(s) {
    const now = performance.now() / 1000;
    samples.push([now, s.events_ingested]);
    while (samples.length > 2 && now - samples[0][0] > 300) samples.shift();
    if (samples.length >= 2) {
      const [t0, e0] = samples[samples.length - 2];
      const rate = Math.max(0, (s.events_ingested - e0) / Math.max(1e-3, now - t0));
      rates.push(rate);
      if (rates.length > 100) rates.shift();
      $("rate").textContent = rate.toFixed(rate < 10 ? 2 : 0);
    }
    $("rate-chart").replaceChildren(sparkline(rates));
    $("items").textContent = fmt(s.items);
    $("events").textContent = fmt(s.events);
    $("ingested").textContent = `${fmt(s.events_ingested)} since the server started`;
    $("users").textContent = `${fmt(s.users)} users in the log`;
    $("training").textContent = s.training ? "training…" : "idle";
    $("training").className = "badge" + (s.training ? " busy" : "");
    $("train").disabled = s.training;
    const last = s.last_training;
    $("model").replaceChildren(
      el("dt", {}, "Serving"), el("dd", { class: "mono" }, s.model_version),
      el("dt", {}, "Last fit"), el("dd", { class: "mono" }, last ? last.model_version : "—"),
      el("dt", {}, "Fitted at"),
      el("dd", {}, last ? new Date(last.trained_at * 1000).toLocaleString() : "—"),
      el("dt", {}, "Took"),
      el("dd", {}, last && last.seconds != null ? `${last.seconds.toFixed(1)} s` : "—"));
    renderQuality(last);
    renderGrowth(s.items, last);
    $("train-error").textContent = s.last_error ? `last refit failed: ${s.last_error}` : "";
  }

  // Recall@10 / NDCG@10 of the serving version against the one before it, on the same
  // held-out events; the blend fit's internals go on one details line below.
  function renderQuality(last) {
    const m = last ? last.metrics : {};
    const rows = [["Recall@10", "recall@10"], ["NDCG@10", "ndcg@10"]];
    const have = rows.some(([, key]) => m[key] !== undefined);
    if (!have) {
      $("quality").replaceChildren(el("tr", {}, el("td", { class: "muted" },
        "no validation yet: a refit measures it on the latest events")));
    } else {
      const previous = last.previous_version;
      $("quality").replaceChildren(
        el("tr", {}, el("th", {}, ""), el("th", { class: "num" }, "serving"),
          el("th", { class: "num" }, "previous"), el("th", { class: "num" }, "change")),
        ...rows.map(([label, key]) => {
          const now = m[key];
          const before = m[`previous_${key}`];
          const change = now !== undefined && before !== undefined && before > 0
            ? (now / before - 1) * 100 : null;
          return el("tr", { "data-metric": key }, el("th", {}, label),
            el("td", { class: "num" }, now === undefined ? "—" : fmt(now, 4)),
            el("td", { class: "num" }, before === undefined ? "—" : fmt(before, 4)),
            el("td", { class: "num" + (change !== null && change > 0 ? " best" : "") },
              change === null ? "—" : `${change >= 0 ? "+" : ""}${change.toFixed(1)} %`));
        }));
      $("quality-note").textContent = [
        m.validation_choices !== undefined
          ? `${fmt(Math.round(m.validation_choices))} held-out events` : null,
        previous ? `previous: ${previous}` : "no previous version",
      ].filter(Boolean).join(" · ");
    }
    const details = [];
    if (m.lists !== undefined) details.push(`blend fit on ${fmt(Math.round(m.lists))} lists`);
    if (m.nll_before !== undefined && m.nll_after !== undefined) {
      details.push(`nll_before ${fmt(m.nll_before, 3)} → nll_after ${fmt(m.nll_after, 3)}`);
    }
    if (m.top1 !== undefined) details.push(`top1 ${fmt(m.top1, 3)}`);
    if (m.mixture_kept === 1 && m.crowd_share !== undefined) {
      details.push(`two-expert blend, crowd share ${fmt(m.crowd_share, 2)}`);
    }
    $("fit-details").textContent = details.length ? `details: ${details.join(" · ")}` : "";
    if (!have) $("quality-note").textContent = "";
  }

  // How the catalog grew: since the serving version was fitted, and between the versions.
  function renderGrowth(items, last) {
    const m = last ? last.metrics : {};
    const parts = [];
    if (m.catalog_items !== undefined) {
      const since = items - m.catalog_items;
      parts.push(`${since >= 0 ? "+" : ""}${fmt(since)} since the last fit`);
      if (m.previous_catalog_items !== undefined) {
        const between = m.catalog_items - m.previous_catalog_items;
        parts.push(`${between >= 0 ? "+" : ""}${fmt(between)} between the two versions`);
      }
    }
    $("growth").textContent = parts.join(" · ");
  }

  function renderReplay(replay) {
    const box = $("replay");
    if (!replay) {
      $("replay-meta").textContent = "";
      box.replaceChildren(el("p", { class: "muted", id: "no-replay" },
        "No replay yet. Run `pulserec replay … --output <data-dir>/replay.json`."));
      return;
    }
    const rows = Array.isArray(replay.results) ? replay.results : [];
    $("replay-meta").textContent = [replay.dataset, replay.k ? `K=${replay.k}` : null]
      .filter(Boolean).join(" · ");
    const names = [...new Set(rows.flatMap((r) => Object.keys(r.metrics || {})))];
    const best = {};
    for (const name of names) {
      best[name] = Math.max(...rows.map((r) => (r.metrics || {})[name] ?? -Infinity));
    }
    const on = rows.find((r) => r.name === "realtime-on");
    const off = rows.find((r) => r.name === "realtime-off");
    const hitKey = names.find((n) => n.startsWith("hit@"));
    const lift = on && off && hitKey && off.metrics[hitKey] > 0
      ? on.metrics[hitKey] / off.metrics[hitKey] : null;
    box.replaceChildren(
      lift !== null ? el("p", { class: "lift" }, el("strong", {}, `${lift.toFixed(1)}×`),
        ` ${hitKey} with real-time updates on vs off`) : null,
      el("table", { class: "table" },
        el("tr", {}, el("th", {}, "run"), names.map((n) => el("th", { class: "num" }, n))),
        rows.map((r) => el("tr", {}, el("th", {}, r.name), names.map((n) => {
          const v = (r.metrics || {})[n];
          const strong = n !== "events" && v === best[n] && rows.length > 1;
          return el("td", { class: "num" + (strong ? " best" : "") },
            v === undefined ? "" : n === "events" ? fmt(Math.round(v)) : fmt(v, 4));
        })))));
  }

  function renderTrending(trending) {
    const list = $("trending");
    list.replaceChildren(...trending.items.map((it) => el("li", { class: "rec" },
      el("div", { class: "rec-title" }, it.title || it.item_id),
      el("div", { class: "rec-meta" },
        el("span", { class: "chips" }, it.categories.map((c) => el("span", { class: "chip" }, c))),
        el("span", { class: "muted small", title: "decayed event weight" },
          it.score >= 10 ? it.score.toFixed(0) : it.score.toPrecision(2))))));
    if (!trending.items.length) list.append(el("li", { class: "muted" }, "Nothing yet."));
  }

  const W = 320;
  const H = 140;
  const PAD = 24;

  function axes(maxY) {
    return [
      svg("line", { x1: PAD, y1: H - PAD, x2: W, y2: H - PAD, class: "axis" }),
      svg("line", { x1: PAD, y1: 0, x2: PAD, y2: H - PAD, class: "axis" }),
      svg("text", { x: 2, y: 10, class: "tick" }, `${(maxY * 100).toFixed(1)}%`),
      svg("text", { x: 2, y: H - PAD, class: "tick" }, "0"),
    ];
  }

  function ctrOverTime(groups) {
    const series = groups.filter((g) => g.series.length);
    if (!series.length) return el("p", { class: "muted" }, "No served lists in the window.");
    const ts = series.flatMap((g) => g.series.map((p) => p.t));
    const t0 = Math.min(...ts);
    const t1 = Math.max(...ts, t0 + 1);
    const maxY = Math.max(...series.flatMap((g) => g.series.map((p) => p.high)), 1e-6);
    const x = (t) => PAD + ((t - t0) / (t1 - t0)) * (W - PAD - 4);
    const y = (v) => (H - PAD) - (v / maxY) * (H - PAD - 4);
    const parts = axes(maxY);
    for (const g of series) {
      const label = `${g.placement} · ${g.variant || "(none)"}`;
      const c = Pulse.colour(label);
      const upper = g.series.map((p) => `${x(p.t).toFixed(1)},${y(p.high).toFixed(1)}`);
      const lower = g.series.map((p) => `${x(p.t).toFixed(1)},${y(p.low).toFixed(1)}`).reverse();
      parts.push(svg("polygon", { points: upper.concat(lower).join(" "), fill: c, opacity: 0.18 }));
      parts.push(svg("polyline", { points: g.series.map((p) =>
        `${x(p.t).toFixed(1)},${y(p.ctr).toFixed(1)}`).join(" "), stroke: c, fill: "none",
        "stroke-width": 2 }, svg("title", {}, label)));
    }
    return svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot" }, ...parts);
  }

  function ctrByPosition(groups) {
    const shown = groups.filter((g) => g.ctr_by_position.length);
    if (!shown.length) return el("p", { class: "muted" }, "No clicks yet.");
    const n = Math.min(10, Math.max(...shown.map((g) => g.ctr_by_position.length)));
    const maxY = Math.max(...shown.flatMap((g) => g.ctr_by_position.slice(0, n)), 1e-6);
    const slot = (W - PAD - 4) / n;
    const bar = slot / (shown.length + 1);
    const parts = axes(maxY);
    shown.forEach((g, j) => {
      const label = `${g.placement} · ${g.variant || "(none)"}`;
      g.ctr_by_position.slice(0, n).forEach((v, i) => {
        const h = (v / maxY) * (H - PAD - 4);
        parts.push(svg("rect", { x: PAD + i * slot + j * bar + 2, y: H - PAD - h, width: bar,
          height: h, fill: Pulse.colour(label) }, svg("title", {},
          `${label}: position ${i + 1}, CTR ${(v * 100).toFixed(2)}%`)));
      });
    });
    for (let i = 0; i < n; i++) {
      parts.push(svg("text", { x: PAD + i * slot + slot / 2, y: H - 8, class: "tick" }, `${i + 1}`));
    }
    return svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot" }, ...parts);
  }

  function renderOnline(online, report) {
    const groups = online.groups || [];
    $("online-meta").textContent = `last ${Math.round(online.window_s / 3600)} h · ` +
      `${fmt(groups.reduce((a, g) => a + g.lists, 0))} lists`;
    $("ctr-time").replaceChildren(ctrOverTime(groups));
    $("ctr-position").replaceChildren(ctrByPosition(groups));
    $("online-legend").replaceChildren(...groups.map((g) => {
      const label = `${g.placement} · ${g.variant || "(none)"}`;
      return el("span", { class: "chip", style: `border-left: 10px solid ${Pulse.colour(label)}` }, label);
    }));
    const cols = ["lists", "impressions", "clicks", "ctr", "conversion_rate", "coverage", "novelty"];
    $("online-table").replaceChildren(
      el("tr", {}, el("th", {}, "placement · variant"), cols.map((c) => el("th", { class: "num" }, c))),
      ...groups.map((g) => el("tr", {}, el("th", {}, `${g.placement} · ${g.variant || "(none)"}`),
        cols.map((c) => el("td", { class: "num" }, fmt(g[c], c === "ctr" || c === "conversion_rate" ? 4 : 3))))));
    if (!report) {
      $("experiment-title").textContent = "Experiment";
      $("experiment").replaceChildren(el("tr", {}, el("td", { class: "muted" },
        "No experiment. POST /v1/admin/experiments to start one.")));
      $("experiment-warnings").replaceChildren();
      return;
    }
    $("experiment-title").textContent = `Experiment “${report.name}” · ${report.status}` +
      (report.final ? " · horizon reached" : ` · interim (horizon ${fmt(report.horizon_users)} users per variant)`);
    const cmp = Object.fromEntries(report.comparisons.map((c) => [c.variant, c]));
    $("experiment").replaceChildren(
      el("tr", {}, ["variant", "users", "impressions", "clicks", "CTR", "95% CI", "Δ vs control", "95% CI of Δ", "p"]
        .map((h) => el("th", { class: h === "variant" ? "" : "num" }, h))),
      ...report.variants.map((v) => {
        const c = cmp[v.name];
        const pct = (x) => (x == null ? "—" : `${(x * 100).toFixed(2)}%`);
        return el("tr", {}, el("th", {}, v.name), el("td", { class: "num" }, fmt(v.users)),
          el("td", { class: "num" }, fmt(v.impressions)), el("td", { class: "num" }, fmt(v.clicks)),
          el("td", { class: "num" }, pct(v.ctr)),
          el("td", { class: "num" }, `${pct(v.ctr_low)} – ${pct(v.ctr_high)}`),
          el("td", { class: "num" + (c && c.significant ? " best" : "") }, c ? pct(c.diff) : "control"),
          el("td", { class: "num" }, c ? `${pct(c.ci_low)} – ${pct(c.ci_high)}` : ""),
          el("td", { class: "num" }, c ? c.p_value.toPrecision(2) : ""));
      }));
    $("experiment-warnings").replaceChildren(...report.warnings.map((w) => el("li", {}, w)));
  }

  async function onlineState() {
    const online = await api("/v1/admin/online?window=24h").catch(() => null);
    if (!online) return [null, null];
    const all = await api("/v1/admin/experiments");
    const current = online.experiment || all[all.length - 1];
    const report = current ? await api(`/v1/admin/experiments/${encodeURIComponent(current.name)}`) : null;
    return [online, report];
  }

  async function poll() {
    try {
      const [s, active, trending, replay, [online, report]] = await Promise.all([
        api("/v1/admin/status"),
        api("/v1/admin/active-users?window_s=900"),
        api("/v1/admin/trending?n=10"),
        api("/v1/admin/replay").catch((err) => {
          if (err.status === 404) return null;
          throw err;
        }),
        onlineState(),
      ]);
      if (online) renderOnline(online, report);
      renderStatus(s);
      $("active").textContent = fmt(active.active_users);
      $("recent-events").textContent =
        `${fmt(active.events)} events in the last 15 min (${fmt(active.events_per_min, 2)} / min)`;
      renderTrending(trending);
      renderReplay(replay);
      document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
      status(`updated ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      status(err.message, "error");
    }
  }

  async function train() {
    try {
      const started = await api("/v1/admin/train", { method: "POST" });
      status(`refit started (serving ${started.model_version} meanwhile)`);
    } catch (err) {
      status(err.message, "error");
    }
    poll();
  }

  function start() {
    if (timer) clearInterval(timer);
    if (!Pulse.key()) {
      status("enter an admin API key", "error");
      return;
    }
    poll();
    timer = setInterval(poll, POLL_MS);
  }

  Pulse.initKey($("api-key"));
  $("api-key").addEventListener("change", () => {
    Pulse.saveKey($("api-key").value);
    start();
  });
  $("train").addEventListener("click", train);
  start();
})();
