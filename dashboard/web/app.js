// The pipeline dashboard: polls /api/state, /api/series and /api/top, draws
// the flow as SVG and the last 15 minutes with uPlot. No framework, no CDN.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const dash = (window.dashboard = { polls: 0, charts: {}, state: null, errors: 0 });

  // ---- formatting
  const int = (n) => (n == null ? "—" : Math.round(n).toLocaleString("en-US"));
  const num = (n) => {
    if (n == null) return "—";
    if (n === 0) return "0";
    if (Math.abs(n) >= 100) return int(n);
    if (Math.abs(n) >= 10) return n.toFixed(1);
    return n.toFixed(2);
  };
  // An exact decimal string ("1234567.89") with thousands separators, as is.
  const money = (s) => {
    if (s == null) return "—";
    const neg = s.startsWith("-");
    const [whole, frac] = (neg ? s.slice(1) : s).split(".");
    const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + grouped + (frac !== undefined ? "." + frac : "");
  };
  const seconds = (s) => (s == null ? "—" : s < 1 ? (s * 1000).toFixed(s < 0.01 ? 1 : 0) + " ms" : s.toFixed(2) + " s");
  const time = (t) => (t ? new Date(t).toLocaleString() : "—");
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  // A service whose work is done (a bounded producer) is not ready, and fine.
  const healthClass = (h) => (h && h.state == "not ready" && h.reason == "done" ? "unknown" : ({ ready: "ready", "not ready": "notready", down: "down" })[h && h.state] || "unknown");
  const healthText = (h) => (h && h.state == "not ready" && h.reason == "done" ? "done" : (h && h.state) || "unknown");

  async function getJSON(url) {
    const res = await fetch(url, { cache: "no-store" });
    if (!res.ok) throw new Error(url + ": " + res.status);
    return res.json();
  }

  // ---- the diagram
  // Centres in the viewBox (1660 x 330), left to right in the order of the flow.
  const layout = {
    services: {
      "cdc-source": [255, 80],
      "orders-producer": [255, 250],
      "orders-details": [645, 165],
      "orders-totals-by-customer": [1035, 165],
      "mongo-sink": [1425, 165],
    },
    // The flow's topics in the order /api/state lists them.
    topics: [[450, 48], [450, 112], [450, 250], [840, 165], [1230, 165]],
    dbs: { mysql: [52, 165, "MySQL", "shop.customers", "shop.products"], mongodb: [1605, 165, "MongoDB", "orderstream", "customer_totals"] },
  };
  const SW = 186, SH = 112, TW = 136, TH = 46, DW = 100, DH = 88;
  const boxes = {}; // id -> {x, y, w, h}

  function el(name, attrs, parent, text) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function buildDiagram(state) {
    const svg = document.getElementById("diagram");
    svg.textContent = "";
    const defs = el("defs", {}, svg);
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
    el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#98a2b3" }, marker);
    const edges = el("g", { id: "edges" }, svg);

    for (const id in layout.dbs) {
      const [x, y, title, a, b] = layout.dbs[id];
      boxes[id] = { x, y, w: DW, h: DH };
      const g = el("g", { class: "node db", id: "node-" + id }, svg);
      const l = x - DW / 2, r = x + DW / 2, t = y - DH / 2 + 8, bot = y + DH / 2 - 8;
      el("path", { class: "db", d: `M ${l} ${t} A ${DW / 2} 8 0 0 0 ${r} ${t} A ${DW / 2} 8 0 0 0 ${l} ${t} L ${l} ${bot} A ${DW / 2} 8 0 0 0 ${r} ${bot} L ${r} ${t}` }, g);
      el("text", { x, y: y - 4, "text-anchor": "middle", class: "title" }, g, title);
      el("text", { x, y: y + 14, "text-anchor": "middle", class: "small" }, g, a);
      el("text", { x, y: y + 28, "text-anchor": "middle", class: "small" }, g, b);
    }
    state.topics.forEach((t, i) => {
      const [x, y] = layout.topics[i];
      const id = "topic-" + i;
      boxes[id] = { x, y, w: TW, h: TH };
      const g = el("g", { class: "node topic", id: "node-" + id, "data-topic": t.name }, svg);
      el("rect", { x: x - TW / 2, y: y - TH / 2, width: TW, height: TH, rx: 23 }, g);
      el("text", { x, y: y - 4, "text-anchor": "middle", class: "title" }, g, t.name);
      el("text", { x, y: y + 13, "text-anchor": "middle", class: "small value" }, g, "—");
    });
    for (const s of state.stages) {
      const [x, y] = layout.services[s.name] || [0, 0];
      boxes[s.name] = { x, y, w: SW, h: SH };
      const g = el("g", { class: "node svc unknown stage", id: "stage-" + s.name, "data-stage": s.name }, svg);
      el("title", {}, g, s.name);
      el("rect", { x: x - SW / 2, y: y - SH / 2, width: SW, height: SH, rx: 8 }, g);
      el("text", { x, y: y - 34, "text-anchor": "middle", class: "title" }, g, s.title);
      el("text", { x, y: y - 15, "text-anchor": "middle", class: "health unknown" }, g, "● unknown");
      el("text", { x, y: y + 5, "text-anchor": "middle", class: "rate" }, g, "—");
      el("text", { x, y: y + 24, "text-anchor": "middle", class: "lag small" }, g, "");
      el("text", { x, y: y + 43, "text-anchor": "middle", class: "dlq small" }, g, "");
    }
    const T = (i) => "topic-" + i;
    const wires = [
      ["mysql", "cdc-source", "binlog"], ["mysql", "orders-producer", "catalog"],
      ["cdc-source", T(0)], ["cdc-source", T(1)], ["orders-producer", T(2)],
      [T(0), "orders-details", "lookup", true], [T(1), "orders-details", "", true], [T(2), "orders-details"],
      ["orders-details", T(3)], [T(3), "orders-totals-by-customer"], ["orders-totals-by-customer", T(4)],
      [T(4), "mongo-sink"], ["mongo-sink", "mongodb"],
    ];
    for (const [a, b, label, lookup] of wires) {
      const p = boxes[a], q = boxes[b];
      if (!p || !q) continue;
      const x1 = p.x + p.w / 2, y1 = p.y, x2 = q.x - q.w / 2 - 2, y2 = q.y, mx = (x1 + x2) / 2;
      el("path", { class: "edge" + (lookup ? " lookup" : ""), d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`, "marker-end": "url(#arrow)" }, edges);
      if (label) {
        const up = y2 < y1;
        el("text", { class: "edge-label", x: x2 - 4, y: y2 + (up ? -8 : 16), "text-anchor": "end" }, edges, label);
      }
    }
    dash.diagramBuilt = true;
  }

  function updateDiagram(state) {
    if (!dash.diagramBuilt) buildDiagram(state);
    state.topics.forEach((t, i) => {
      const g = document.getElementById("node-topic-" + i);
      if (!g) return;
      g.querySelector(".value").textContent = t.records == null ? "—" : int(t.records) + " records · " + num(t.rate) + "/s";
    });
    for (const s of state.stages) {
      const g = document.getElementById("stage-" + s.name);
      if (!g) continue;
      const hc = healthClass(s.health);
      g.setAttribute("class", "node svc stage " + hc);
      const h = g.querySelector(".health");
      h.setAttribute("class", "health " + hc);
      h.textContent = "● " + healthText(s.health);
      g.querySelector("title").textContent = s.name + ": " + s.health.state + (s.health.reason ? " — " + s.health.reason : "");
      g.querySelector(".rate").textContent = s.rate == null ? "— " + s.rate_unit : num(s.rate) + " " + s.rate_unit;
      g.querySelector(".lag").textContent = s.has_lag ? "lag " + int(s.lag) : s.note || "";
      const dl = g.querySelector(".dlq");
      dl.textContent = "";
      const parts = [];
      if (s.has_retries) parts.push(["retries " + int(s.retries), s.retries > 0 ? "warn" : ""]);
      if (s.errors != null) parts.push(["errors " + int(s.errors), s.errors > 0 ? "bad" : ""]);
      parts.push(["dead letters " + int(s.dead_letters), s.dead_letters > 0 ? "bad" : ""]);
      parts.forEach(([text, cls], i) => {
        if (i > 0) el("tspan", {}, dl, " · ");
        el("tspan", { class: (cls + (text.startsWith("dead") ? " dlq-count" : "")).trim() }, dl, text);
      });
    }
  }

  function updateHeader(state) {
    const nav = document.getElementById("links");
    if (!nav.dataset.built) {
      for (const l of state.links || []) {
        const a = document.createElement("a");
        a.href = l.URL;
        a.textContent = l.Title;
        nav.appendChild(a);
      }
      nav.dataset.built = "1";
    }
    const tb = state.tables;
    document.getElementById("updated").textContent =
      "updated " + new Date(state.time).toLocaleTimeString() + " · " + int(tb.totals) + " customers with totals, " +
      int(tb.orders) + " orders, " + money(tb.amount) + " in all" + (tb.caught_up ? "" : " (still reading customer-totals)");
    const problems = [];
    if (state.kafka_error) problems.push("Kafka: " + state.kafka_error);
    if (tb.error) problems.push("tables: " + tb.error);
    for (const t of state.targets) if (!t.up && t.error) problems.push(t.name + " does not answer (" + t.error + ")");
    const banner = document.getElementById("banner");
    banner.hidden = problems.length === 0;
    banner.textContent = problems.join(" · ");
    document.getElementById("targets").textContent =
      "scraping every " + state.interval_ms / 1000 + " s: " +
      state.targets.map((t) => t.name + " " + t.url + (t.up ? " (up)" : " (down)")).join(", ");
  }

  // ---- the charts
  const palette = ["#1d4ed8", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];
  function chart(id, series, yFormat) {
    const host = document.getElementById(id);
    const opts = {
      width: Math.max(280, host.clientWidth),
      height: 200,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max || 0, 1e-9) * 1.1] } },
      axes: [{}, { size: 64, values: (u, vals) => vals.map(yFormat) }],
      series: [{}].concat(series.map((s, i) => ({ label: s, stroke: palette[i % palette.length], width: 2, points: { show: false } }))),
    };
    const u = new uPlot(opts, [[]].concat(series.map(() => [])), host);
    dash.charts[id] = u;
    return u;
  }

  let charts = null;
  function updateCharts(series) {
    if (!charts) {
      const lagNames = Object.keys(series.lag);
      charts = {
        orders: chart("chart-orders", ["in (onto orders)", "out (totalled)"], (v) => num(v)),
        latency: chart("chart-latency", ["p99"], (v) => seconds(v)),
        lag: chart("chart-lag", lagNames, (v) => int(v)),
        lagNames,
      };
    }
    charts.orders.setData([series.t, series.in, series.out]);
    charts.latency.setData([series.t, series.p99]);
    charts.lag.setData([series.t].concat(charts.lagNames.map((n) => series.lag[n])));
  }
  window.addEventListener("resize", () => {
    for (const id in dash.charts) {
      const host = document.getElementById(id);
      dash.charts[id].setSize({ width: Math.max(280, host.clientWidth), height: 200 });
    }
  });

  // ---- top customers and the search
  function updateTop(top) {
    const rows = document.getElementById("top-rows");
    document.getElementById("top-note").textContent = top.tables.caught_up ? "by exact total, from customer-totals" : "(still reading customer-totals)";
    if (!top.customers.length) {
      rows.innerHTML = '<tr><td colspan="5" class="muted">no totals yet</td></tr>';
      return;
    }
    rows.innerHTML = top.customers
      .map((c, i) => `<tr data-id="${esc(c.id)}"><td>${i + 1}</td><td>${esc(c.id)}</td><td class="name">${esc(c.name)}</td>` +
        `<td class="num">${int(c.orders)}</td><td class="num total">${esc(money(c.total))}</td></tr>`)
      .join("");
  }

  function renderMatch(c) {
    const where = [c.city, c.country].filter(Boolean).join(", ");
    return `<div class="match" data-id="${esc(c.id)}">
      <div><span class="who">#${esc(c.id)} ${esc(c.name)}</span> <span class="muted">${esc(c.email || "")}</span></div>
      <div>total <span class="total">${esc(money(c.total))}</span> <span class="muted">over <span class="orders">${int(c.orders)}</span> orders</span></div>
      <dl>
        <dt>last order</dt><dd>${c.last_order_id ? esc(c.last_order_id) + " at " + esc(time(c.last_order_at)) : "none yet"}</dd>
        <dt>total updated</dt><dd>${esc(time(c.total_updated_at))}</dd>
        ${c.row ? `<dt>city</dt><dd>${esc(where || "—")}</dd><dt>phone</dt><dd>${esc(c.phone || "—")}</dd><dt>card</dt><dd>${esc(c.credit_card || "—")} <span class="muted">(masked by the CDC source)</span></dd>`
              : `<dt>row</dt><dd class="muted">not on the customers topic (deleted?)</dd>`}
      </dl></div>`;
  }

  async function search(q) {
    const out = document.getElementById("results");
    out.classList.remove("muted");
    try {
      const r = await getJSON("/api/customer?q=" + encodeURIComponent(q));
      out.innerHTML = r.matches.length ? r.matches.map(renderMatch).join("") : `<div class="muted">no customer matches “${esc(q)}”</div>`;
      out.dataset.query = q;
      dash.searches = (dash.searches || 0) + 1;
    } catch (e) {
      out.textContent = "search failed: " + e.message;
    }
  }
  document.getElementById("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search(document.getElementById("q").value);
  });

  // /?q=42 opens with customer 42 found.
  const initial = new URLSearchParams(location.search).get("q");
  if (initial) {
    document.getElementById("q").value = initial;
    search(initial);
  }

  // ---- polling
  async function poll() {
    try {
      const [state, series] = await Promise.all([getJSON("/api/state"), getJSON("/api/series")]);
      dash.state = state;
      updateHeader(state);
      updateDiagram(state);
      updateCharts(series);
      if (dash.polls % 2 === 0) updateTop(await getJSON("/api/top?n=10"));
      dash.polls++;
      const q = document.getElementById("results").dataset.query;
      if (q && dash.polls % 2 === 0) search(q); // keep a shown customer's total live
      setTimeout(poll, state.interval_ms || 2000);
    } catch (e) {
      dash.errors++;
      document.getElementById("updated").textContent = "the dashboard does not answer (" + e.message + "); retrying";
      setTimeout(poll, 3000);
    }
  }
  poll();
})();
