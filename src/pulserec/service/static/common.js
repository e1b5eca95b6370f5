/* pulserec pages: helpers both pages share (no framework, no build step). */
"use strict";

const Pulse = (() => {
  const KEY_STORE = "pulserec.apiKey";

  /** Build an element: el("div", {class: "x", onclick: fn}, child, "text", ...). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** An SVG element with attributes. */
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /**
   * The API key: `#key=` in the address wins (stored, then cleared from the address bar),
   * else localStorage. A fragment is never sent to the server, so the key stays out of
   * every access log and proxy on the way; a `?key=` query would be logged.
   */
  function initKey(input) {
    const fragment = new URLSearchParams(window.location.hash.slice(1));
    const fromUrl = fragment.get("key");
    if (fromUrl) {
      localStorage.setItem(KEY_STORE, fromUrl);
      fragment.delete("key");
      const rest = fragment.toString();
      const url = window.location.pathname + window.location.search + (rest ? "#" + rest : "");
      history.replaceState(null, "", url);
    }
    input.value = localStorage.getItem(KEY_STORE) || "";
    return input.value;
  }

  function saveKey(value) {
    localStorage.setItem(KEY_STORE, value.trim());
  }

  function key() {
    return localStorage.getItem(KEY_STORE) || "";
  }

  class ApiError extends Error {
    constructor(status, message, field = null) {
      super(message);
      this.status = status;
      this.field = field; // the first offending field the server named
    }
  }

  /** Call the JSON API with the stored key; throws ApiError with the server's message. */
  async function api(path, options = {}) {
    const headers = { "X-API-Key": key() };
    const init = { method: options.method || "GET", headers };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, `cannot reach the server (${err.message})`);
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = text;
    }
    if (!response.ok) {
      const detail = data && Array.isArray(data.detail) && data.detail[0];
      const message = detail ? detail.message : `HTTP ${response.status}`;
      throw new ApiError(response.status, message, detail ? detail.field : null);
    }
    return data;
  }

  /** Show a short message in the header's status slot. */
  function status(message, kind) {
    const node = document.getElementById("status");
    node.textContent = message || "";
    node.className = "status" + (kind ? " " + kind : "");
  }

  /** A random id for an event (works on plain http too, unlike crypto.randomUUID). */
  function randomId(prefix) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const PALETTE = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
  ];
  const colours = new Map();

  /** A stable colour per topic label, for the whole page's life. */
  function colour(label) {
    if (!colours.has(label)) colours.set(label, PALETTE[colours.size % PALETTE.length]);
    return colours.get(label);
  }

  function fmt(value, digits = 3) {
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value)) return value.toLocaleString("en-US");
    return value.toFixed(digits);
  }

  return { el, svg, initKey, saveKey, key, api, status, randomId, colour, fmt, ApiError };
})();
