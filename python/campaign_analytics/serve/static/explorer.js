// The campaign explorer: plain DOM and hand-drawn SVG over the service's own JSON API.
// No framework and nothing from another origin (the page's Content-Security-Policy says so).
//
// State lives in the URL fragment (#q=spring&sort=-roas&campaign=cmp-002&top=5), so a view
// can be bookmarked, shared and reached with the back button.
"use strict";

(() => {
  // --- small helpers ---------------------------------------------------------------------

  const SVG_NS = "http://www.w3.org/2000/svg";

  function build(make, tag, attrs, children) {
    const el = make(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.setAttribute("class", value);
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }
  const h = (tag, attrs, ...children) => build((t) => document.createElement(t), tag, attrs, children);
  const svg = (tag, attrs, ...children) => build((t) => document.createElementNS(SVG_NS, t), tag, attrs, children);
  const $ = (id) => document.getElementById(id);

  const integer = new Intl.NumberFormat("en-US");
  const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
  const FORMAT = {
    count: (v) => integer.format(v),
    money: (v) => money.format(v),
    percent: (v) => (v * 100).toFixed(2) + "%", // rates come with 4 places: exact in percent
    ratio: (v) => v.toFixed(2) + "×",
  };
  // The list is for scanning: large values there are shortened (126.3K), with the exact value
  // in the cell's title; the campaign view shows them in full.
  const SHORT_FROM = 100000;
  function short(metric, value) {
    return (metric.format === FORMAT.count || metric.format === FORMAT.money) && Math.abs(value) >= SHORT_FROM
      ? compact.format(value)
      : metric.format(value);
  }
  function shortDate(iso) {
    return new Date(iso + "T00:00:00Z").toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
  }
  function longDate(iso) {
    return new Date(iso + "T00:00:00Z").toLocaleDateString("en-US", {
      weekday: "short", month: "short", day: "numeric", year: "numeric", timeZone: "UTC",
    });
  }
  const enc = encodeURIComponent;

  // One GET against the API: {status, body, headers}; a network failure is status 0.
  async function get(url) {
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" } });
    } catch (error) {
      return { status: 0, body: { detail: "the service did not answer (" + error.message + ")" }, headers: new Headers() };
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = { detail: "the answer was not JSON" };
    }
    return { status: response.status, body, headers: response.headers };
  }
  function detailOf(answer) {
    const detail = answer.body && answer.body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
    return "HTTP " + answer.status;
  }

  // --- columns -----------------------------------------------------------------------------

  const METRICS = [
    { key: "total_impressions", label: "Impressions", short: "Impr.", format: FORMAT.count },
    { key: "total_clicks", label: "Clicks", short: "Clicks", format: FORMAT.count },
    { key: "total_conversions", label: "Conversions", short: "Conv.", format: FORMAT.count },
    { key: "total_spend", label: "Spend", short: "Spend", format: FORMAT.money },
    { key: "total_revenue", label: "Revenue", short: "Revenue", format: FORMAT.money },
    { key: "ctr", label: "CTR", short: "CTR", format: FORMAT.percent },
    { key: "cvr", label: "CVR", short: "CVR", format: FORMAT.percent },
    { key: "roas", label: "ROAS", short: "ROAS", format: FORMAT.ratio },
  ];
  const BY_KEY = Object.fromEntries(METRICS.map((m) => [m.key, m]));
  // The list shows these; the narrow layout hides the ones marked wide.
  const LIST_COLUMNS = [
    { key: "total_spend" },
    { key: "total_revenue", wide: true },
    { key: "total_conversions", wide: true },
    { key: "ctr", wide: true },
    { key: "roas" },
  ];
  const SORTS = [
    ["campaign_id", "Id"],
    ["campaign_name", "Name"],
    ...METRICS.map((m) => [m.key, m.label]),
  ];
  const ISSUES = {
    ctr_below_threshold: "CTR below threshold",
    roas_below_threshold: "ROAS below threshold",
    spend_without_conversions: "Spend without conversions",
  };
  const PAGE_SIZE = 50;
  const CREATOR_LIMITS = [3, 5, 10, 25, 100];

  // --- state in the URL fragment ------------------------------------------------------------

  function readState() {
    const p = new URLSearchParams(location.hash.slice(1));
    const top = parseInt(p.get("top") || "5", 10);
    return {
      q: p.get("q") || "",
      sort: p.get("sort") || "campaign_id",
      offset: Math.max(0, parseInt(p.get("offset") || "0", 10) || 0),
      campaign: p.get("campaign") || null,
      top: CREATOR_LIMITS.includes(top) ? top : 5,
    };
  }
  function go(changes, { replace = false } = {}) {
    const next = { ...readState(), ...changes };
    const p = new URLSearchParams();
    if (next.q) p.set("q", next.q);
    if (next.sort !== "campaign_id") p.set("sort", next.sort);
    if (next.offset) p.set("offset", String(next.offset));
    if (next.campaign) p.set("campaign", next.campaign);
    if (next.top !== 5) p.set("top", String(next.top));
    const url = location.pathname + location.search + (p.toString() ? "#" + p : "");
    if (replace) history.replaceState(null, "", url);
    else history.pushState(null, "", url);
    render();
  }

  // --- the campaign list --------------------------------------------------------------------

  let shownList = null; // the query the list shows, to skip reloading it for detail-only changes
  let listToken = 0;

  function listQuery(state) {
    const p = new URLSearchParams({ sort: state.sort, limit: String(PAGE_SIZE), offset: String(state.offset) });
    if (state.q) p.set("q", state.q);
    return p;
  }

  function setupList() {
    const sortSelect = $("sort");
    for (const [key, label] of SORTS) {
      sortSelect.append(h("option", { value: key }, label + " ↑"), h("option", { value: "-" + key }, label + " ↓"));
    }
    sortSelect.addEventListener("change", () => go({ sort: sortSelect.value, offset: 0 }));
    let typing = null;
    $("search").addEventListener("input", (event) => {
      clearTimeout(typing);
      typing = setTimeout(() => go({ q: event.target.value.trim(), offset: 0 }, { replace: true }), 200);
    });
    $("prev").addEventListener("click", () => go({ offset: Math.max(0, readState().offset - PAGE_SIZE) }));
    $("next").addEventListener("click", () => go({ offset: readState().offset + PAGE_SIZE }));
    $("home").addEventListener("click", (event) => {
      event.preventDefault();
      go({ campaign: null });
    });
  }

  function sortHeader(state, key, label, extraClass) {
    const active = state.sort.replace(/^-/, "") === key;
    const descending = state.sort.startsWith("-");
    // numbers read best from high to low, names from A to Z
    const first = key === "campaign_id" || key === "campaign_name" ? key : "-" + key;
    const next = active ? (descending ? key : "-" + key) : first;
    return h(
      "th",
      { class: extraClass, scope: "col", "aria-sort": active ? (descending ? "descending" : "ascending") : null },
      h("button", { type: "button", class: "sort-button", "data-sort": key, onclick: () => go({ sort: next, offset: 0 }) },
        label, active ? (descending ? " ↓" : " ↑") : ""),
    );
  }

  async function loadList(state) {
    const query = listQuery(state).toString();
    if (query === shownList) {
      markSelected(state.campaign);
      return;
    }
    const token = ++listToken;
    $("list-status").textContent = "Loading campaigns…";
    const answer = await get("/campaigns?" + query);
    if (token !== listToken) return; // a newer query won
    shownList = query;
    const rows = $("campaign-rows");
    rows.replaceChildren();
    const head = $("campaign-head");
    head.replaceChildren(
      sortHeader(state, "campaign_name", "Campaign", "name-col"),
      ...LIST_COLUMNS.map((c) => sortHeader(state, c.key, BY_KEY[c.key].short, "num" + (c.wide ? " wide-only" : ""))),
    );
    if (answer.status !== 200) {
      $("list-status").textContent = "Could not list campaigns: " + detailOf(answer);
      $("list-status").className = "status error";
      return;
    }
    $("list-status").className = "status";
    const build = answer.headers.get("x-build-id");
    $("build").textContent = build ? "build " + build : "";
    const { total, offset, campaigns } = answer.body;
    for (const campaign of campaigns) rows.append(campaignRow(campaign, state));
    const last = offset + campaigns.length;
    $("list-status").textContent =
      total === 0 ? (state.q ? "No campaign matches “" + state.q + "”." : "No campaigns in this build.") : "";
    $("page-info").textContent = total ? `${offset + 1}–${last} of ${integer.format(total)}` : "";
    $("prev").disabled = offset === 0;
    $("next").disabled = last >= total;
    const csv = listQuery(state);
    csv.set("format", "csv");
    $("campaigns-csv").href = "/campaigns?" + csv;
    markSelected(state.campaign);
  }

  // A campaign with no metrics rows has all-zero totals; the list and the campaign view both
  // show it as "no metrics yet" with a dash for every total (never 0.00 % or 0.00×).
  const NO_VALUE = "—";
  function hasNoMetrics(totals) {
    return totals.total_impressions === 0 && totals.total_spend === 0 && totals.total_clicks === 0;
  }
  function noMetricsBadge() {
    return h("span", { class: "badge" }, "no metrics yet");
  }

  function campaignRow(campaign, state) {
    const totals = campaign.totals;
    const empty = hasNoMetrics(totals);
    const name = campaign.campaign_name || "(no name)";
    return h(
      "tr",
      { class: empty ? "empty" : null, "data-campaign": campaign.campaign_id },
      h("th", { scope: "row", class: "name-col" },
        h("a", { href: "#", class: "campaign-link", onclick: (event) => { event.preventDefault(); go({ campaign: campaign.campaign_id }); } },
          name),
        h("span", { class: "id" }, campaign.campaign_id),
        empty ? noMetricsBadge() : null),
      LIST_COLUMNS.map((c) =>
        h("td", { class: "num" + (c.wide ? " wide-only" : ""), "data-key": c.key, title: empty ? null : BY_KEY[c.key].format(totals[c.key]) },
          empty ? NO_VALUE : short(BY_KEY[c.key], totals[c.key])),
      ),
    );
  }

  function markSelected(campaignId) {
    for (const row of $("campaign-rows").children) {
      if (row.dataset.campaign === campaignId) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
  }

  // --- one campaign ---------------------------------------------------------------------------

  let shownCampaign = null;
  let detailToken = 0;
  let lastCharts = null; // what the charts were drawn from, to redraw them on resize

  async function loadDetail(state) {
    const pane = $("detail-pane");
    document.body.classList.toggle("has-campaign", Boolean(state.campaign));
    if (!state.campaign) {
      shownCampaign = null;
      lastCharts = null;
      pane.replaceChildren(h("p", { class: "placeholder" }, "Pick a campaign to see its totals, its creators and its days."));
      return;
    }
    if (shownCampaign === state.campaign) {
      if (pane.dataset.top !== String(state.top)) loadCreators(state);
      return;
    }
    shownCampaign = state.campaign;
    const token = ++detailToken;
    const id = state.campaign;
    pane.replaceChildren(h("p", { class: "placeholder" }, "Loading " + id + "…"));
    const path = "/campaigns/" + enc(id);
    const [performance, checked] = await Promise.all([get(path + "/performance"), get(path + "/daily?with_thresholds=true")]);
    if (token !== detailToken) return;
    if (performance.status !== 200) {
      pane.replaceChildren(
        backButton(),
        h("p", { class: "notice error", role: "alert" }, performance.status === 404 ? detailOf(performance) : "Could not load " + id + ": " + detailOf(performance)),
      );
      return;
    }
    let daily = checked;
    let benchmarkProblem = null;
    if (checked.status === 502) {
      // thresholds are unavailable: say so, and still show the days without them
      benchmarkProblem = detailOf(checked);
      daily = await get(path + "/daily");
      if (token !== detailToken) return;
    }
    const body = performance.body;
    pane.replaceChildren(
      backButton(),
      h("div", { class: "detail-head" },
        h("h2", { id: "campaign-title" }, body.campaign_name || "(no name)"),
        h("code", { class: "id" }, body.campaign_id),
        hasNoMetrics(body.totals) ? noMetricsBadge() : null),
      kpis(body.totals),
      h("section", { class: "card", "aria-labelledby": "chart-title" },
        h("div", { class: "card-head" },
          h("h3", { id: "chart-title" }, "Daily CTR and ROAS"),
          h("a", { class: "small", href: path + "/daily?format=csv" + (benchmarkProblem ? "" : "&with_thresholds=true") }, "Days as CSV")),
        benchmarkProblem
          ? h("p", { id: "benchmark-status", class: "notice error", role: "alert" },
              h("strong", null, "Benchmark service unavailable. "),
              "Thresholds and alerts cannot be checked right now; the chart shows the daily values without them.",
              h("span", { class: "small muted detail" }, " (" + benchmarkProblem + ")"))
          : null,
        h("div", { id: "charts" })),
      h("section", { class: "card", id: "alerts", "aria-labelledby": "alerts-title" },
        h("h3", { id: "alerts-title" }, "Alerts")),
      h("section", { class: "card", id: "creators", "aria-labelledby": "creators-title" },
        h("div", { class: "card-head" },
          h("h3", { id: "creators-title" }, "Top creators"),
          h("label", { class: "small" }, "Show ",
            h("select", { id: "creator-limit", onchange: (event) => go({ top: Number(event.target.value) }, { replace: true }) },
              CREATOR_LIMITS.map((n) => h("option", { value: n, selected: n === state.top }, String(n)))))),
        h("div", { id: "creator-table" })),
    );
    let days = null;
    let thresholds = null;
    if (daily.status === 200) {
      days = daily.body.days;
      thresholds = benchmarkProblem ? null : daily.body.thresholds;
      lastCharts = { days, thresholds };
      drawCharts();
    } else {
      lastCharts = null;
      $("charts").replaceChildren(h("p", { class: "notice error", role: "alert" }, "Could not load the days: " + detailOf(daily)));
    }
    renderAlerts(days, thresholds, benchmarkProblem);
    loadCreators(state);
    window.scrollTo({ top: 0 });
  }

  function backButton() {
    return h("button", { type: "button", class: "back", onclick: () => go({ campaign: null }) }, "← All campaigns");
  }

  function kpis(totals) {
    const empty = hasNoMetrics(totals);
    return h("dl", { class: "kpis" },
      METRICS.map((m) => h("div", { class: "kpi", "data-key": m.key },
        h("dt", null, m.label),
        h("dd", { title: empty ? null : String(totals[m.key]) }, empty ? NO_VALUE : m.format(totals[m.key])))));
  }

  function renderAlerts(days, thresholds, problem) {
    const section = $("alerts");
    const title = $("alerts-title");
    section.replaceChildren(title);
    if (problem) {
      section.append(h("p", { class: "muted" }, "Alerts need the benchmark thresholds, which are unavailable."));
      return;
    }
    if (!days) {
      section.append(h("p", { class: "muted" }, "Alerts are unavailable while the days cannot be loaded."));
      return;
    }
    if (days.length === 0) {
      section.append(h("p", { class: "muted" }, "No metrics yet: this campaign has no days to check against its thresholds."));
      return;
    }
    const alerts = days.filter((d) => d.issues.length);
    title.textContent = alerts.length ? `Alerts (${alerts.length})` : "Alerts";
    section.append(h("p", { class: "small muted" },
      `Thresholds: CTR at least ${FORMAT.percent(thresholds.min_ctr)}, ROAS at least ${FORMAT.ratio(thresholds.min_roas)}.`));
    if (!alerts.length) {
      section.append(h("p", { class: "ok-note" }, "No alerts: every day meets its thresholds."));
      return;
    }
    section.append(h("ul", { class: "alert-list" },
      alerts.map((d) => h("li", { class: "alert-item", "data-date": d.metric_date },
        h("span", { class: "alert-date" }, longDate(d.metric_date)),
        h("span", { class: "chips" },
          d.issues.map((issue) => h("span", { class: "chip", "data-issue": issue, title: issue }, ISSUES[issue] || issue))),
        h("span", { class: "alert-values small" },
          `CTR ${FORMAT.percent(d.ctr)} · ROAS ${FORMAT.ratio(d.roas)} · spend ${FORMAT.money(d.total_spend)} · ${integer.format(d.total_conversions)} conv.`)))));
  }

  async function loadCreators(state) {
    const pane = $("detail-pane");
    pane.dataset.top = String(state.top);
    const target = $("creator-table");
    if (!target) return;
    const query = new URLSearchParams({ campaign_id: state.campaign, limit: String(state.top) });
    const answer = await get("/creators/top?" + query);
    if (shownCampaign !== state.campaign || pane.dataset.top !== String(state.top)) return;
    if (answer.status !== 200) {
      target.replaceChildren(h("p", { class: "notice error" }, "Could not load creators: " + detailOf(answer)));
      return;
    }
    const creators = answer.body.creators;
    query.set("format", "csv");
    target.replaceChildren(
      creators.length === 0
        ? h("p", { class: "muted" }, "No creator has metrics in this campaign yet.")
        : h("div", { class: "table-wrap" },
            h("table", { class: "table creators-table" },
              h("thead", null, h("tr", null,
                h("th", { scope: "col" }, "#"),
                h("th", { scope: "col" }, "Creator"),
                h("th", { scope: "col", class: "num" }, "Conv."),
                h("th", { scope: "col", class: "num wide-only" }, "Clicks"),
                h("th", { scope: "col", class: "num wide-only" }, "Impr."),
                h("th", { scope: "col", class: "num" }, "Spend"),
                h("th", { scope: "col", class: "num" }, "CTR"))),
              h("tbody", null, creators.map((c, i) => h("tr", { "data-creator": c.creator_id },
                h("td", { class: "rank" }, String(i + 1)),
                h("th", { scope: "row", class: "name-col" },
                  c.creator_name === null ? h("span", { class: "muted" }, "(unknown)") : c.creator_name,
                  h("span", { class: "id" }, c.creator_id)),
                h("td", { class: "num" }, FORMAT.count(c.total_conversions)),
                h("td", { class: "num wide-only" }, FORMAT.count(c.total_clicks)),
                h("td", { class: "num wide-only" }, FORMAT.count(c.total_impressions)),
                h("td", { class: "num" }, FORMAT.money(c.total_spend)),
                h("td", { class: "num" }, FORMAT.percent(c.ctr))))))),
      h("p", { class: "small" }, h("a", { href: "/creators/top?" + query }, "Creators as CSV")),
    );
  }

  // --- the charts: one SVG per rate, drawn to the width they get --------------------------------

  const SERIES = [
    { key: "ctr", label: "CTR", threshold: "min_ctr", format: FORMAT.percent, hasValue: (d) => d.total_impressions > 0, empty: "no impressions" },
    { key: "roas", label: "ROAS", threshold: "min_roas", format: FORMAT.ratio, hasValue: (d) => d.total_spend > 0, empty: "no spend" },
  ];
  const DAY_MS = 86400000;

  function drawCharts() {
    const target = $("charts");
    if (!target || !lastCharts) return;
    const { days, thresholds } = lastCharts;
    if (days.length === 0) {
      target.replaceChildren(h("p", { class: "muted" }, "No daily metrics for this campaign yet."));
      return;
    }
    const width = Math.max(260, Math.floor(target.clientWidth || 600));
    const gaps = days.some((d) => SERIES.some((series) => !series.hasValue(d)));
    target.replaceChildren(
      ...SERIES.map((series) => chart(series, days, thresholds, width)),
      legend(thresholds, gaps),
    );
  }

  function legend(thresholds, gaps) {
    return h("p", { class: "legend small muted" },
      h("span", { class: "key key-line" }), "daily value ",
      thresholds ? [h("span", { class: "key key-threshold" }), "minimum ", h("span", { class: "key key-alert" }), "alert day "] : null,
      gaps ? [h("span", { class: "key key-empty" }), "no impressions or no spend that day"] : null);
  }

  function niceCeiling(value) {
    if (!(value > 0)) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
      if (step * power >= value) return step * power;
    }
    return 10 * power;
  }

  function chart(series, days, thresholds, width) {
    const height = 170;
    const margin = { top: 14, right: 14, bottom: 26, left: 52 };
    const plotW = width - margin.left - margin.right;
    const plotH = height - margin.top - margin.bottom;
    const minimum = thresholds ? thresholds[series.threshold] : null;
    const times = days.map((d) => Date.parse(d.metric_date + "T00:00:00Z"));
    const first = times[0];
    const span = times[times.length - 1] - first;
    const dayWidth = span > 0 ? (plotW * DAY_MS) / (span + DAY_MS) : plotW;
    const x = (t) => margin.left + (span > 0 ? dayWidth / 2 + ((t - first) / span) * (plotW - dayWidth) : plotW / 2);
    const top = niceCeiling(Math.max(minimum || 0, ...days.map((d) => d[series.key])) * 1.1);
    const y = (v) => margin.top + plotH - (v / top) * plotH;
    const alertDay = (d) => (d.issues || []).length > 0;

    const parts = [];
    for (let i = 0; i <= 4; i++) {
      const v = (top * i) / 4;
      parts.push(
        svg("line", { class: "grid", x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v) }),
        svg("text", { class: "tick", x: margin.left - 6, y: y(v) + 4, "text-anchor": "end" }, series.format(v)),
      );
    }
    const bandWidth = Math.max(6, Math.min(dayWidth * 0.8, 40));
    days.forEach((d, i) => {
      if (alertDay(d)) {
        parts.push(svg("rect", {
          class: "alert-band", "data-date": d.metric_date,
          x: x(times[i]) - bandWidth / 2, y: margin.top, width: bandWidth, height: plotH,
        }, svg("title", null, longDate(d.metric_date) + ": " + d.issues.map((k) => ISSUES[k] || k).join(", "))));
      }
    });
    // x labels: at most one per ~70 px, the first and the last day always
    const every = Math.max(1, Math.ceil(days.length / Math.max(2, Math.floor(plotW / 70))));
    const labelled = [];
    for (let i = 0; i < days.length; i += every) labelled.push(i);
    const last = days.length - 1;
    const previous = labelled[labelled.length - 1];
    if (previous !== last) {
      if (x(times[last]) - x(times[previous]) < 60 && labelled.length > 1) labelled.pop();
      labelled.push(last);
    }
    for (const i of labelled) {
      parts.push(svg("text", { class: "tick", x: x(times[i]), y: height - 8, "text-anchor": "middle" }, shortDate(days[i].metric_date)));
    }
    if (minimum !== null) {
      parts.push(svg("line", { class: "threshold", "data-value": minimum, x1: margin.left, x2: width - margin.right, y1: y(minimum), y2: y(minimum) }));
      // on a narrow chart the label would sit on the line; the caption says the minimum anyway
      if (width >= 520) {
        parts.push(svg("text", { class: "threshold-label", x: width - margin.right - 4, y: y(minimum) - 5, "text-anchor": "end" }, "min " + series.format(minimum)));
      }
    }
    const path = days.map((d, i) => (i ? "L" : "M") + x(times[i]).toFixed(1) + " " + y(d[series.key]).toFixed(1)).join(" ");
    parts.push(svg("path", { class: "line line-" + series.key, d: path }));
    const radius = days.length > 60 ? 2.5 : 4;
    days.forEach((d, i) => {
      const classes = ["point"];
      if (!series.hasValue(d)) classes.push("nodata");
      if (alertDay(d)) classes.push("alert");
      const text = longDate(d.metric_date) + " · " + series.label + " " +
        (series.hasValue(d) ? series.format(d[series.key]) : "n/a (" + series.empty + ")") +
        (minimum !== null ? " · min " + series.format(minimum) : "");
      parts.push(svg("circle", {
        class: classes.join(" ") + " point-" + series.key, "data-date": d.metric_date, "data-value": d[series.key],
        cx: x(times[i]), cy: y(d[series.key]), r: alertDay(d) ? radius + 1.5 : radius,
      }, svg("title", null, text)));
    });
    const alerts = days.filter(alertDay).length;
    return h("figure", { class: "chart", "data-series": series.key },
      h("figcaption", null, h("span", { class: "series-name series-" + series.key }, series.label),
        minimum !== null ? h("span", { class: "muted small" }, " minimum " + series.format(minimum)) : null),
      svg("svg", {
        width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
        "aria-label": `Daily ${series.label} over ${days.length} days` + (minimum !== null ? `, minimum ${series.format(minimum)}, ${alerts} alert day(s)` : ""),
      }, parts));
  }

  // --- wiring ------------------------------------------------------------------------------------

  function render() {
    const state = readState();
    const search = $("search");
    if (document.activeElement !== search) search.value = state.q;
    $("sort").value = state.sort;
    loadList(state);
    loadDetail(state);
  }

  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(drawCharts, 120);
  });
  window.addEventListener("popstate", render);
  window.addEventListener("hashchange", render);
  setupList();
  render();
})();
