// The supervisors' dashboard: plain JS and SVG, no library, nothing from another origin.
// Every value from the server is put into the page as text (textContent), never as markup.
"use strict";

const WORDS = {
  vi: {
    title: "Đánh giá mức độ hài lòng", from: "Từ ngày", to: "Đến ngày", show: "Xem", logout: "Đăng xuất",
    api: "API", total: "Tổng số phiếu", rate: "Tỷ lệ hài lòng", index: "Chỉ số (0-100)", change: "So với kỳ trước",
    by_counter: "Theo quầy", by_department: "Theo đơn vị", trend: "Xu hướng tỷ lệ hài lòng",
    heatmap: "Số phiếu theo giờ và thứ", devices: "Thiết bị", reports: "Báo cáo",
    alerts: "Cảnh báo", alert_at: "Lúc", alert_what: "Nơi", alert_message: "Nội dung", alert_state: "Tình trạng",
    alert_ack: "Xác nhận", alert_sent: "Đã gửi", alert_active: "đang diễn ra", alert_cleared: "đã hết {time}",
    alert_ack_button: "Xác nhận", alert_comment: "Ghi chú", alert_by: "{who}, {time}", alert_more: "Cũ hơn",
    alert_none: "Không có cảnh báo.", alert_summary: "{active} đang diễn ra, {open} chưa xác nhận (trong {n} cảnh báo gần nhất)",
    alert_forbidden: "Chỉ quản trị viên xác nhận được cảnh báo.", alert_filter: "Hiện",
    alert_all: "tất cả", alert_only_active: "đang diễn ra", alert_unacknowledged: "chưa xác nhận",
    delivered: "đã gửi", retrying: "đang gửi lại ({n} lần)", recent: "Đánh giá gần đây (hôm nay)", recent_none: "Hôm nay chưa có đánh giá.",
    counter: "Quầy", department: "Đơn vị", code: "Mã", name: "Tên", box: "Thiết bị",
    status: "Trạng thái", last_seen: "Lần cuối", outbox: "Hàng đợi", firmware: "Phần mềm",
    silent: "Im lặng (phút giờ hành chính)", online: "trực tuyến", offline: "mất kết nối",
    rssi: "Sóng Wi-Fi", heap: "RAM trống", reset: "Khởi động lại do", boots: "Số lần khởi động", rollout: "Cập nhật",
    flags: "Cần xem", flag_reboots: "khởi động lại", flag_outbox: "tồn phiếu",
    rollout_pending: "chờ", rollout_sent: "đang cập nhật", rollout_updated: "đã cập nhật", rollout_failed: "lỗi",
    rollout_rolled_back: "đã quay lại bản cũ",
    down: "Ngừng (phút giờ hành chính)", down_title: "Thời gian trong giờ hành chính thiết bị mất kết nối hoặc im lặng, {from} – {to}",
    lost: "Lượt bấm thất lạc", lost_title: "Thiết bị đã đánh số {missing} lượt bấm máy chủ chưa nhận (số {gaps}), từ {since}",
    never_seen: "chưa kết nối", retired: "đã thay thế", hour: "Giờ", week_this: "Báo cáo tuần này", week_last: "Báo cáo tuần trước",
    month_this: "Báo cáo tháng này", month_last: "Báo cáo tháng trước", no_data: "Chưa có đánh giá",
    devices_summary: "{online} trực tuyến, {offline} mất kết nối, {silent} im lặng quá {minutes} phút",
    error: "Không tải được dữ liệu: ",
    by_officer: "Theo cán bộ", officer: "Cán bộ", rank: "Hạng", interval: "Khoảng tin cậy 95%",
    few: "ít phiếu", few_title: "Chỉ có {n} phiếu: tỷ lệ còn ít cơ sở, khoảng tin cậy rộng; chỉ để tham khảo (không bị ẩn).",
    counter_page: "Quầy {code}: {name}", all_counters: "← Tất cả các quầy", officers_over_time: "Cán bộ theo thời gian",
    officer_period_title: "{n} phiếu, tỷ lệ hài lòng {rate}",
    compare_with: "So sánh với", compare_from: "từ", compare_to: "đến", compared: "So sánh với: {from} – {to}",
    period: "Kỳ", period_custom: "Tùy chọn", period_week: "Tuần này", period_month: "Tháng này",
    period_quarter: "Quý này", period_year: "Năm nay", previous: "Kỳ trước: {from} – {to}",
    updated: "Cập nhật lúc {time}", filter: "Lọc theo mã hoặc tên", no_match: "Không có dòng nào khớp",
    rank_note: "Xếp hạng theo cận dưới của khoảng tin cậy 95% (Wilson): 3 phiếu 100% không xếp trên 300 phiếu 99%.",
  },
  en: {
    title: "Counter satisfaction ratings", from: "From", to: "To", show: "Show", logout: "Sign out",
    api: "API", total: "Total ratings", rate: "Satisfaction rate", index: "Index (0-100)", change: "Change vs previous",
    by_counter: "By counter", by_department: "By department", trend: "Satisfaction rate trend",
    heatmap: "Ratings by hour and weekday", devices: "Devices", reports: "Reports",
    alerts: "Alerts", alert_at: "When", alert_what: "Where", alert_message: "Message", alert_state: "State",
    alert_ack: "Acknowledged", alert_sent: "Sent", alert_active: "active", alert_cleared: "cleared {time}",
    alert_ack_button: "Acknowledge", alert_comment: "Comment", alert_by: "{who}, {time}", alert_more: "Older",
    alert_none: "No alerts.", alert_summary: "{active} active, {open} unacknowledged (of the latest {n} alerts)",
    alert_forbidden: "Only an admin can acknowledge an alert.", alert_filter: "Show",
    alert_all: "all", alert_only_active: "active", alert_unacknowledged: "unacknowledged",
    delivered: "delivered", retrying: "retrying ({n} attempts)", recent: "Latest ratings (today)", recent_none: "No ratings yet today.",
    counter: "Counter", department: "Department", code: "Code", name: "Name", box: "Device",
    status: "Status", last_seen: "Last seen", outbox: "Outbox", firmware: "Firmware",
    silent: "Silent (office minutes)", online: "online", offline: "offline",
    rssi: "Wi-Fi signal", heap: "Free RAM", reset: "Last reset", boots: "Boots", rollout: "Update",
    flags: "Needs a look", flag_reboots: "reboots", flag_outbox: "outbox",
    rollout_pending: "pending", rollout_sent: "updating", rollout_updated: "updated", rollout_failed: "failed",
    rollout_rolled_back: "rolled back",
    down: "Down (office minutes)", down_title: "Office minutes the box was offline or silent, {from} – {to}",
    lost: "Presses lost", lost_title: "The box numbered {missing} presses the collector never got (seq {gaps}), since {since}",
    never_seen: "never seen", retired: "retired", hour: "Hour", week_this: "This week's report", week_last: "Last week's report",
    month_this: "This month's report", month_last: "Last month's report", no_data: "No ratings yet",
    devices_summary: "{online} online, {offline} offline, {silent} silent for over {minutes} minutes",
    error: "Could not load data: ",
    by_officer: "By officer", officer: "Officer", rank: "Rank", interval: "95% interval",
    few: "few ratings", few_title: "Only {n} ratings: the rate rests on few ratings and its interval is wide; for reference (not hidden).",
    counter_page: "Counter {code}: {name}", all_counters: "← All counters", officers_over_time: "Officers over time",
    officer_period_title: "{n} ratings, satisfaction {rate}",
    compare_with: "Compare with", compare_from: "from", compare_to: "to", compared: "Compared with: {from} – {to}",
    period: "Period", period_custom: "Custom", period_week: "This week", period_month: "This month",
    period_quarter: "This quarter", period_year: "This year", previous: "Previous period: {from} – {to}",
    updated: "Updated {time}", filter: "Filter by code or name", no_match: "No row matches",
    rank_note: "Ranked by the lower end of the 95% (Wilson) interval: 3 ratings at 100% do not outrank 300 at 99%.",
  },
};

const params = new URLSearchParams(location.search);
const lang = params.get("lang") === "en" ? "en" : "vi";
const W = WORDS[lang];
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) node.append(child === null || child === undefined ? "" : child);
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function pct(value, signed) {
  if (value === null || value === undefined) return "-";
  let text = (value * 100).toFixed(1);
  if (signed && value > 0) text = "+" + text;
  if (lang === "vi") text = text.replace(".", ",");
  return signed ? text + (lang === "vi" ? " điểm %" : " pp") : text + "%";
}

function num(value) {
  if (value === null || value === undefined) return "-";
  return lang === "vi" ? String(value).replace(".", ",") : String(value);
}

// Days are the center's calendar days ("2026-12-03" from the server), never the browser's: a browser
// in another zone would otherwise ask for the wrong day. They are held as Dates at UTC midnight and
// only read and shifted with the UTC methods, so the browser's zone never enters.
function dayOf(text) {
  return new Date(text + "T00:00:00Z");
}

function isoDay(d) {
  return d.toISOString().slice(0, 10);
}

function addDays(d, days) {
  return new Date(d.getTime() + days * 86400000);
}

function isoMonth(d) {
  return isoDay(d).slice(0, 7);
}

function isoWeek(d) {
  const t = new Date(d.getTime());
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = new Date(Date.UTC(t.getUTCFullYear(), 0, 1));
  const week = Math.ceil(((t - yearStart) / 86400000 + 1) / 7);
  return t.getUTCFullYear() + "-W" + String(week).padStart(2, "0");
}

// The center's current week, month, quarter or year holding `today` (a center's day), first to last day.
const PERIODS = ["week", "month", "quarter", "year"];

function periodRange(today, kind) {
  const y = today.getUTCFullYear(), m = today.getUTCMonth();
  if (kind === "week") {
    const monday = addDays(today, -((today.getUTCDay() + 6) % 7));
    return [isoDay(monday), isoDay(addDays(monday, 6))];
  }
  const [first, months] = kind === "month" ? [m, 1] : kind === "quarter" ? [m - (m % 3), 3] : [0, 12];
  const start = new Date(Date.UTC(y, first, 1));
  const end = addDays(new Date(Date.UTC(y, first + months, 1)), -1);
  return [isoDay(start), isoDay(end)];
}

async function api(path, query) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null) url.searchParams.set(k, v);
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); return null; }
  if (!response.ok) throw new Error(path + ": " + response.status);
  return response.json();
}

function translate() {
  document.documentElement.lang = lang;
  document.title = W.title;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = W[node.dataset.i18n];
}

// The level keys present in any group, in the order the API lists them (the site's levels first).
function levelColumns(data) {
  const keys = new Map();
  for (const level of [...(data.levels || []), ...data.groups.flatMap((g) => g.levels || [])]) {
    if (!keys.has(level.key)) keys.set(level.key, level);
  }
  return [...keys.values()];
}

function interval(g) {
  if (g.rate_low === null || g.rate_low === undefined) return "-";
  return "(" + Math.round(g.rate_low * 100) + "–" + Math.round(g.rate_high * 100) + ")";
}

// Officers ranked by the lower end of their rate's interval (null last), then by more ratings.
function ranks(groups) {
  const order = [...groups].sort((a, b) => (b.rate_low ?? -1) - (a.rate_low ?? -1) || b.total - a.total);
  return new Map(order.map((g, i) => [g, g.rate_low === null || g.rate_low === undefined ? null : i + 1]));
}

// The columns of a figures table: what each shows and what it sorts by.
function columns(data, firstColumn, ranked) {
  const cols = [];
  if (ranked) cols.push({ id: "rank", label: W.rank, value: (g, r) => r.get(g), cls: "n rank" });
  cols.push({ id: "code", label: W.code, value: (g) => g.code, text: true, link: firstColumn === W.counter && !COUNTER },
    { id: "name", label: firstColumn, value: (g) => g.name, text: true },
    { id: "total", label: W.total, value: (g) => g.total, cls: "n total" });
  for (const level of levelColumns(data)) {
    cols.push({ id: "level:" + level.key, label: lang === "vi" ? level.label_vi : level.label_en, level: level.key,
      value: (g) => { const l = (g.levels || []).find((x) => x.key === level.key); return l ? l.count : null; },
      cls: "n level" });
  }
  cols.push({ id: "rate", label: W.rate, value: (g) => g.satisfaction_rate, cls: "n rate" },
    { id: "interval", label: W.interval, value: (g) => g.rate_low, cls: "n interval" },
    { id: "index", label: W.index, value: (g) => g.index, cls: "n index" },
    { id: "change", label: W.change, value: (g) => (g.change ? g.change.satisfaction_rate : null), cls: "n change" });
  return cols;
}

function cell(col, g, rank) {
  if (col.id === "code") {
    if (col.link && g.code !== null) return el("td", {}, el("a", { href: "?" + counterQuery(g.code) }, String(g.code)));
    return el("td", {}, g.code === null ? "" : String(g.code));
  }
  if (col.id === "name") return el("td", {}, g.name || "");
  if (col.id === "rank") { const r = rank.get(g); return el("td", { class: col.cls }, r === null ? "-" : String(r)); }
  if (col.id === "total") return el("td", { class: col.cls }, String(g.total));
  if (col.level) {
    const l = (g.levels || []).find((x) => x.key === col.level);
    return el("td", { class: col.cls, "data-level": col.level }, l ? String(l.count) + " (" + pct(l.share) + ")" : "-");
  }
  if (col.id === "rate") {
    const bar = el("span", { class: "bar" });
    bar.style.width = Math.round((g.satisfaction_rate || 0) * 120) + "px"; // CSSOM: allowed by the page's CSP
    return el("td", { class: col.cls }, bar, pct(g.satisfaction_rate));
  }
  if (col.id === "interval") {
    const td = el("td", { class: col.cls }, interval(g));
    if (g.few_ratings) {
      td.append(" ", el("span", { class: "few", title: W.few_title.replace("{n}", g.total) }, W.few));
    }
    return td;
  }
  if (col.id === "index") return el("td", { class: col.cls }, num(g.index));
  const delta = col.value(g);
  return el("td", { class: col.cls + (delta > 0 ? " up" : delta < 0 ? " down" : "") }, pct(delta, true));
}

// ?counter=CODE: the counter page, every view of that one counter (its trend, heatmap, officers over
// time, box and alerts); the counters table links each code to it.
const COUNTER = params.get("counter") || "";

function counterQuery(code) {
  const next = new URLSearchParams(location.search);
  next.set("counter", code);
  return next.toString();
}

// One row per officer who staffed the counter, one column per period: the rate and, on hover, its ratings.
function officersOverTime(data) {
  const table = document.getElementById("officer-periods");
  const periods = [...new Set(data.groups.flatMap((g) => g.series.map((s) => s.period)))].sort();
  table.tHead.replaceChildren(el("tr", {}, el("th", {}, W.officer), ...periods.map((p) => el("th", {}, p))));
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const g of data.groups) {
    const byPeriod = new Map(g.series.map((s) => [s.period, s]));
    body.append(el("tr", { "data-key": String(g.key) }, el("td", {}, g.name || ""), ...periods.map((p) => {
      const s = byPeriod.get(p);
      if (!s || !s.total) return el("td", { class: "n" }, "-");
      return el("td", { class: "n", title: W.officer_period_title.replace("{n}", s.total).replace("{rate}", pct(s.satisfaction_rate)) },
        `${pct(s.satisfaction_rate)} (${s.total})`);
    })));
  }
  if (!data.groups.length) body.append(el("tr", {}, el("td", {}, W.no_data)));
}

let previousLabel = ""; // the compared period, shown as the change column's title

// Each figures table's data and the user's sort; the filter is the text in its box. Both survive a redraw.
const views = {};

// Folded for matching: lower case, no diacritics ("Quầy" -> "quay", "đ" -> "d").
function fold(text) {
  return String(text ?? "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d").replace(/Đ/g, "D")
    .toLowerCase();
}

function compare(a, b, text) {
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : 1;
  if (b === null || b === undefined) return -1;
  return text ? String(a).localeCompare(String(b), lang) : a - b;
}

function figuresTable(table, data, firstColumn, ranked) {
  const view = views[table.id] || (views[table.id] = { sort: null });
  Object.assign(view, { data, firstColumn, ranked });
  renderTable(table);
}

function renderTable(table) {
  const view = views[table.id];
  const groups = view.data.groups;
  const cols = columns(view.data, view.firstColumn, view.ranked);
  const rank = ranks(groups);
  const head = table.tHead, body = table.tBodies[0];
  head.replaceChildren(el("tr", {}, ...cols.map((c) => {
    const sorted = view.sort && view.sort.col === c.id;
    const attrs = { scope: "col", "data-col": c.id,
      "aria-sort": sorted ? (view.sort.dir > 0 ? "ascending" : "descending") : "none" };
    if (c.id === "change" && previousLabel) attrs.title = previousLabel;
    return el("th", attrs,
    el("button", { type: "button", class: "sort" }, c.label));
  })));
  body.replaceChildren();
  if (!groups.length) { body.append(el("tr", {}, el("td", { colspan: String(cols.length) }, W.no_data))); return; }
  const box = document.getElementById("filter-" + table.id);
  const needle = fold(box ? box.value.trim() : "");
  let rows = groups.filter((g) => !needle || fold(g.code).includes(needle) || fold(g.name).includes(needle));
  if (view.ranked) rows.sort((a, b) => compare(rank.get(a), rank.get(b)));
  const col = view.sort && cols.find((c) => c.id === view.sort.col);
  if (col) {
    // nulls stay last whichever way; ties keep the order above (sort is stable)
    rows.sort((a, b) => {
      const x = col.value(a, rank), y = col.value(b, rank);
      if (x === null || x === undefined || y === null || y === undefined) return compare(x, y, col.text);
      return view.sort.dir * compare(x, y, col.text);
    });
  }
  if (!rows.length) body.append(el("tr", { class: "no-match" }, el("td", { colspan: String(cols.length) }, W.no_match)));
  for (const g of rows) {
    const row = el("tr", { "data-key": g.key === null ? "" : String(g.key) }, ...cols.map((c) => cell(c, g, rank)));
    if (g.few_ratings) row.classList.add("few-ratings");
    body.append(row);
  }
}

function sortable(table) {
  table.tHead.addEventListener("click", (event) => {
    const th = event.target.closest("th[data-col]");
    if (!th || !views[table.id]) return;
    const view = views[table.id];
    const col = th.dataset.col;
    view.sort = { col, dir: view.sort && view.sort.col === col ? -view.sort.dir : 1 };
    renderTable(table);
  });
  const box = document.getElementById("filter-" + table.id);
  if (box) box.addEventListener("input", () => { if (views[table.id]) renderTable(table); });
}

function trendChart(box, series) {
  const width = 800, height = 220, pad = 36;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": W.trend });
  for (const level of [0, 0.5, 1]) {
    const y = height - pad - level * (height - 2 * pad);
    chart.append(svg("line", { x1: pad, x2: width - 8, y1: y, y2: y, stroke: "#ccd" }));
    chart.append(svg("text", { x: 2, y: y + 4, "font-size": 11 }, pct(level)));
  }
  const points = series.filter((s) => s.satisfaction_rate !== null);
  const step = (width - pad - 16) / Math.max(1, series.length - 1);
  const xy = (s) => [pad + series.indexOf(s) * step, height - pad - s.satisfaction_rate * (height - 2 * pad)];
  if (points.length) {
    chart.append(svg("polyline", { points: points.map((s) => xy(s).join(",")).join(" "), fill: "none",
      stroke: "#1f4e79", "stroke-width": 2 }));
    for (const s of points) {
      const [x, y] = xy(s);
      const dot = svg("circle", { cx: x, cy: y, r: 3, fill: "#1f4e79", "data-period": s.period });
      dot.append(svg("title", {}, `${s.period}: ${pct(s.satisfaction_rate)} (${s.total})`));
      chart.append(dot);
    }
  }
  const every = Math.ceil(series.length / 10);
  series.forEach((s, i) => {
    if (i % every === 0) chart.append(svg("text", { x: pad + i * step, y: height - 10, "font-size": 10,
      "text-anchor": "middle" }, s.period));
  });
  box.replaceChildren(chart);
}

function heatmap(box, grid) {
  const cells = new Map(grid.cells.map((c) => [c.weekday + ":" + c.hour, c]));
  let hours = [];
  for (let h = 7; h <= 17; h++) hours.push(h);
  for (const c of grid.cells) if (!hours.includes(c.hour)) hours.push(c.hour);
  hours.sort((a, b) => a - b);
  const max = Math.max(1, ...grid.cells.map((c) => c.total));
  const cw = 52, ch = 26, left = 40, top = 22;
  const chart = svg("svg", { viewBox: `0 0 ${left + hours.length * cw} ${top + 7 * ch}`, role: "img",
    "aria-label": W.heatmap });
  hours.forEach((h, i) => chart.append(svg("text", { x: left + i * cw + cw / 2, y: 14, "font-size": 11,
    "text-anchor": "middle" }, h + "h")));
  grid.weekdays.forEach((d, row) => {
    chart.append(svg("text", { x: 4, y: top + row * ch + 17, "font-size": 11 }, lang === "vi" ? d.label_vi : d.label_en));
    hours.forEach((h, i) => {
      const c = cells.get(d.weekday + ":" + h);
      const share = c ? c.total / max : 0;
      const rect = svg("rect", { x: left + i * cw, y: top + row * ch, width: cw - 2, height: ch - 2, rx: 3,
        fill: c ? `rgba(31,78,121,${0.12 + 0.88 * share})` : "#eef1f5", "data-cell": d.weekday + ":" + h });
      if (c) rect.append(svg("title", {}, `${c.total} - ${W.rate}: ${pct(c.satisfaction_rate)}`));
      chart.append(rect);
      if (c) chart.append(svg("text", { x: left + i * cw + cw / 2 - 1, y: top + row * ch + 17, "font-size": 11,
        "text-anchor": "middle", fill: share > 0.5 ? "#fff" : "#123" }, String(c.total)));
    });
  });
  box.replaceChildren(chart);
}

// A box's presses numbered and never stored (the devices API's loss), flagged while a gap is open.
function lossCell(loss, timeZone) {
  if (!loss) return el("td", { class: "n lost" }, "-");
  if (!loss.missing) return el("td", { class: "n lost" }, "0");
  const since = loss.open_since ? new Date(loss.open_since).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", { timeZone }) : "-";
  const gaps = loss.gaps.map(([first, last]) => first === last ? String(first) : `${first}-${last}`).join(", ");
  return el("td", { class: "n lost gap-open", title: W.lost_title.replace("{missing}", loss.missing)
    .replace("{gaps}", gaps + (loss.gap_count > loss.gaps.length ? ", ..." : "")).replace("{since}", since) },
    String(loss.missing));
}

function devicesTable(status, timeZone) {
  const table = document.getElementById("devices");
  table.tHead.replaceChildren(el("tr", {}, el("th", {}, W.box), el("th", {}, W.counter), el("th", {}, W.status),
    el("th", {}, W.last_seen), el("th", {}, W.outbox), el("th", {}, W.firmware), el("th", {}, W.rssi),
    el("th", {}, W.heap), el("th", {}, W.reset), el("th", {}, W.boots), el("th", {}, W.rollout),
    el("th", { title: status.flag_rules }, W.flags), el("th", {}, W.silent),
    el("th", { title: W.down_title.replace("{from}", status.down_from).replace("{to}", status.down_to) }, W.down),
    el("th", {}, W.lost)));
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const d of status.items) {
    const seen = d.last_seen ? new Date(d.last_seen).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", { timeZone })
      : "-";
    body.append(el("tr", { class: d.status, "data-box": d.box },
      el("td", {}, d.box), el("td", {}, d.counter || ""), el("td", { class: "status" }, W[d.status] || d.status),
      el("td", {}, seen), el("td", { class: "n" }, d.outbox === null ? "-" : String(d.outbox)),
      el("td", {}, d.fw || "-"),
      el("td", { class: "n" }, d.rssi === null || d.rssi === undefined ? "-" : `${d.rssi} dBm`),
      el("td", { class: "n" }, d.heap_free === null || d.heap_free === undefined ? "-" : `${Math.round(d.heap_free / 1024)} KB`),
      el("td", {}, d.reset_cause || "-"),
      el("td", { class: "n" }, d.boot === null || d.boot === undefined ? "-" : String(d.boot)),
      el("td", { class: "rollout" }, d.rollout ? `${d.rollout.version}: ${W["rollout_" + d.rollout.state] || d.rollout.state}` : "-"),
      el("td", { class: d.flags.length ? "flags flagged" : "flags" }, d.flags.map((f) => W["flag_" + f] || f).join(", ")),
      el("td", { class: "n" }, d.silent_office_minutes === null ? "-" : String(d.silent_office_minutes)),
      el("td", { class: d.down_office_minutes ? "n down-time is-down" : "n down-time" }, String(d.down_office_minutes)),
      lossCell(d.loss, timeZone)));
  }
  document.getElementById("device-summary").textContent = W.devices_summary
    .replace("{online}", status.online).replace("{offline}", status.offline)
    .replace("{silent}", status.silent.length).replace("{minutes}", status.silent_after_minutes);
}

// --- alerts: the latest, live, acknowledged with a comment (admin), each delivery's state ---------

const ALERT_PAGE = 20;
let alertLimit = ALERT_PAGE; // "Older" shows another page; a redraw keeps what is shown
let alertState = "all";

// An alert's message is "Vietnamese / English" (collector/alerts/evaluate.py): the page's half.
function alertText(message) {
  const cut = message.indexOf(" / ");
  if (cut < 0) return message;
  return lang === "vi" ? message.slice(0, cut) : message.slice(cut + 3);
}

function when(iso, timeZone) {
  return new Date(iso).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", { timeZone, day: "2-digit", month: "2-digit",
    hour: "2-digit", minute: "2-digit", hour12: false });
}

function deliveriesText(deliveries) {
  const last = new Map(); // channel -> its latest delivery (fired, then cleared)
  for (const d of deliveries) last.set(d.channel, d);
  return [...last.values()].map((d) => d.delivered_at ? `${d.channel}: ${W.delivered}`
    : `${d.channel}: ${W.retrying.replace("{n}", d.attempts)}${d.last_error ? " - " + d.last_error : ""}`).join("; ");
}

async function acknowledge(alert, comment) {
  const response = await fetch(`/api/v1/alerts/${alert.id}/acknowledge`, { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-Requested-With": "dashboard" },
    body: JSON.stringify({ comment }) });
  if (response.status === 403) throw new Error(W.alert_forbidden);
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(typeof body.detail === "string" ? body.detail : `acknowledge: ${response.status}`);
  }
}

function ackCell(alert, timeZone) {
  if (alert.acknowledged_at) {
    const by = W.alert_by.replace("{who}", alert.acknowledged_by || "").replace("{time}", when(alert.acknowledged_at, timeZone));
    return el("td", { class: "ack" }, alert.comment ? `${by}: ${alert.comment}` : by);
  }
  const comment = el("input", { type: "text", maxlength: "1000", "aria-label": W.alert_comment, placeholder: W.alert_comment });
  const form = el("form", { class: "ack-form" }, comment, el("button", { type: "submit" }, W.alert_ack_button));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await acknowledge(alert, comment.value);
      await drawAlerts(timeZone);
    } catch (error) {
      showError(error);
    }
  });
  return el("td", { class: "ack" }, form);
}

async function drawAlerts(timeZone) {
  const page = await api("/api/v1/alerts", { state: alertState, limit: alertLimit, ...(COUNTER ? { counter: COUNTER } : {}) });
  if (!page) return;
  const table = document.getElementById("alerts");
  table.tHead.replaceChildren(el("tr", {}, el("th", {}, W.alert_at), el("th", {}, W.alert_what),
    el("th", {}, W.alert_message), el("th", {}, W.alert_state), el("th", {}, W.alert_ack), el("th", {}, W.alert_sent)));
  const body = table.tBodies[0];
  // a comment being typed survives the redraw of a live page
  const typing = document.activeElement && body.contains(document.activeElement) ? document.activeElement : null;
  if (typing) return;
  body.replaceChildren();
  for (const a of page.items) {
    const state = a.active ? W.alert_active : W.alert_cleared.replace("{time}", when(a.cleared_at, timeZone));
    body.append(el("tr", { class: a.active ? "alert active" : "alert cleared", "data-alert": a.id, "data-rule": a.rule },
      el("td", {}, when(a.fired_at, timeZone)), el("td", {}, a.counter ? `${W.counter} ${a.counter}` : a.box || a.subject),
      el("td", {}, alertText(a.message)), el("td", { class: "state" }, state), ackCell(a, timeZone),
      el("td", { class: "sent" }, deliveriesText(a.deliveries))));
  }
  if (!page.items.length) body.append(el("tr", {}, el("td", { colspan: "6" }, W.alert_none)));
  const active = page.items.filter((a) => a.active).length;
  const open = page.items.filter((a) => !a.acknowledged_at).length;
  document.getElementById("alert-summary").textContent = W.alert_summary.replace("{active}", active)
    .replace("{open}", open).replace("{n}", page.items.length);
  document.getElementById("alerts-more").hidden = page.next_before === null || alertLimit >= 500;
}

// --- the ticker: today's latest ratings (the lobby's figures, which name no officer) ---------------

async function drawTicker(timeZone) {
  const lobby = await api("/api/v1/lobby");
  if (!lobby) return;
  const list = document.getElementById("ticker");
  list.replaceChildren(...lobby.recent.map((r) => el("li", { class: r.satisfied ? "up" : "down" },
    `${new Date(r.at).toLocaleTimeString(lang === "vi" ? "vi-VN" : "en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hour12: false })}`
    + ` ${W.counter} ${r.counter}: ${lang === "vi" ? r.label_vi : r.label_en}`)));
  if (!lobby.recent.length) list.append(el("li", {}, W.recent_none));
}

function reportLinks(today) {
  const lastMonth = addDays(dayOf(isoMonth(today) + "-01"), -1);
  const list = document.getElementById("reports");
  list.replaceChildren();
  for (const [label, period] of [[W.week_this, isoWeek(today)], [W.week_last, isoWeek(addDays(today, -7))],
    [W.month_this, isoMonth(today)], [W.month_last, isoMonth(lastMonth)]]) {
    const item = el("li", {}, label + " (" + period + "): ");
    for (const format of ["html", "pdf", "xlsx", "csv"]) {
      item.append(el("a", { href: `/api/v1/reports/${period}?format=${format}&lang=${lang}`,
        class: "report-" + format }, format.toUpperCase()), " ");
    }
    list.append(item);
  }
}

async function centerToday() {
  // Asked without dates, the API answers for the center's today: its `to` is that day.
  const today = await api("/api/v1/satisfaction", { group: "none", compare: "false" });
  return today && dayOf(today.to);
}

let centerDay = null; // the center's today, as the API said it
let range = null; // { from, to, period } the page shows

// ?refresh=N seconds between re-fetches (default 60, at least 10: a lobby screen must not load the server)
const REFRESH = Math.max(10, Number.parseInt(params.get("refresh"), 10) || 60);

function showError(error) {
  document.getElementById("error").textContent = W.error + error.message;
}

// The center's today, and from it the dates shown: a ?period= follows the calendar (a screen left open
// moves to the new month when it turns), otherwise ?from/?to or the last 30 days.
async function pickRange() {
  const today = await centerToday();
  if (!today) return null;
  centerDay = today;
  const period = PERIODS.includes(params.get("period")) ? params.get("period") : "custom";
  let from, to;
  if (period !== "custom") {
    [from, to] = periodRange(today, period);
  } else {
    to = params.get("to") || isoDay(today);
    from = params.get("from") || isoDay(addDays(dayOf(to), -29));
  }
  const cfrom = params.get("cfrom") || "", cto = params.get("cto") || "";
  return { from, to, period, cfrom, cto };
}

async function draw() {
  const { from, to } = range;
  const days = (dayOf(to) - dayOf(from)) / 86400000 + 1;
  const by = days <= 62 ? "day" : days <= 400 ? "week" : "month";
  // ?cfrom=&cto=: the period every change is measured against (else the previous one)
  const against = range.cfrom && range.cto ? { compare_from: range.cfrom, compare_to: range.cto } : {};
  const one = COUNTER ? { counter: COUNTER } : {};
  const officerBy = days <= 62 ? "week" : days <= 400 ? "month" : "quarter";
  let [counters, departments, officers, trend, grid, devices, overTime] = await Promise.all([
    api("/api/v1/satisfaction", { from, to, group: "counter", ...against, ...one }),
    COUNTER ? null : api("/api/v1/satisfaction", { from, to, group: "department", ...against }),
    api("/api/v1/satisfaction", { from, to, group: "officer", ...against, ...one }),
    api("/api/v1/satisfaction", { from, to, group: "none", by, compare: "false", ...one }),
    api("/api/v1/satisfaction/grid", { from, to, ...one }),
    api("/api/v1/devices/status", { from, to }),
    COUNTER ? api("/api/v1/satisfaction", { from, to, group: "officer", by: officerBy, compare: "false", ...one }) : null,
  ]);
  if (!counters) return false;
  document.getElementById("sum-total").textContent = String(counters.total);
  document.getElementById("sum-rate").textContent = pct(counters.satisfaction_rate);
  document.getElementById("sum-index").textContent = num(counters.index);
  document.getElementById("sum-change").textContent = pct(counters.change.satisfaction_rate, true);
  if (counters.previous) {
    const previous = W.previous.replace("{from}", counters.previous.from).replace("{to}", counters.previous.to);
    document.getElementById("sum-change").parentNode.title = previous;
    previousLabel = previous;
    document.getElementById("compared").textContent = W.compared.replace("{from}", counters.previous.from)
      .replace("{to}", counters.previous.to);
  }
  // the tables keep the user's sort (views) and filter (the boxes' text) across redraws
  figuresTable(document.getElementById("counters"), counters, W.counter, false);
  if (departments) figuresTable(document.getElementById("departments"), departments, W.department, false);
  if (overTime) officersOverTime(overTime);
  if (COUNTER) {
    const named = counters.groups.find((g) => g.code === COUNTER);
    document.getElementById("counter-title").textContent = W.counter_page.replace("{code}", COUNTER)
      .replace("{name}", named ? named.name : "");
    devices = { ...devices, items: devices.items.filter((d) => d.counter === COUNTER) }; // its box, then and now
  }
  figuresTable(document.getElementById("officers"), officers, W.officer, true);
  trendChart(document.getElementById("trend"), trend.series);
  heatmap(document.getElementById("heatmap"), grid);
  devicesTable(devices, grid.timezone);
  await Promise.all([drawAlerts(grid.timezone), drawTicker(grid.timezone)]);
  const time = new Intl.DateTimeFormat(lang === "vi" ? "vi-VN" : "en-GB",
    { timeZone: grid.timezone, hour: "2-digit", minute: "2-digit", hour12: false }).format(new Date());
  document.getElementById("updated").textContent = W.updated.replace("{time}", time);
  document.getElementById("error").textContent = "";
  document.body.dataset.draws = String(Number(document.body.dataset.draws || 0) + 1);
  return true;
}

function showRange() {
  document.getElementById("from").value = range.from;
  document.getElementById("to").value = range.to;
  document.getElementById("period").value = range.period;
  document.getElementById("cfrom").value = range.cfrom;
  document.getElementById("cto").value = range.cto;
}

// The query of the page asked for: the dates, and the compared period when both its days are set.
function pageQuery(base) {
  const next = new URLSearchParams({ lang, ...base });
  const cfrom = document.getElementById("cfrom").value, cto = document.getElementById("cto").value;
  if (cfrom && cto) { next.set("cfrom", cfrom); next.set("cto", cto); }
  if (params.get("refresh")) next.set("refresh", params.get("refresh"));
  return next.toString();
}

async function load() {
  try {
    range = await pickRange();
    if (!range) return;
    reportLinks(centerDay);
    showRange();
    if (!(await draw())) return;
    performance.mark("dashboard-drawn"); // the first meaningful paint: every view drawn (bench.dashboard)
    document.body.dataset.loaded = "true";
  } catch (error) {
    showError(error);
    document.body.dataset.loaded = "error";
  }
  document.body.dataset.refresh = String(REFRESH);
  setTimeout(poll, REFRESH * 1000);
}

// Short polling: re-fetch and redraw in place, without a reload; a failed round shows its error and
// the next one tries again.
async function poll() {
  try {
    if (range && range.period !== "custom") {
      const next = await pickRange();
      if (next && (next.from !== range.from || next.to !== range.to)) {
        range = next;
        showRange();
        reportLinks(centerDay);
      }
    }
    if (range) await draw();
  } catch (error) {
    showError(error);
  }
  setTimeout(poll, REFRESH * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  translate();
  for (const code of ["vi", "en"]) {
    const link = document.getElementById("lang-" + code);
    const next = new URLSearchParams(location.search);
    next.set("lang", code);
    link.href = "?" + next.toString();
  }
  for (const id of ["counters", "departments", "officers"]) sortable(document.getElementById(id));
  if (COUNTER) {
    document.getElementById("counter-page").hidden = false;
    document.getElementById("departments-section").hidden = true;
    const back = new URLSearchParams(location.search);
    back.delete("counter");
    document.getElementById("all-counters").href = "?" + back.toString();
  }
  document.getElementById("alerts-more").addEventListener("click", () => {
    alertLimit = Math.min(500, alertLimit + ALERT_PAGE);
    draw().catch(showError);
  });
  document.getElementById("alert-state").addEventListener("change", (event) => {
    alertState = event.target.value;
    alertLimit = ALERT_PAGE;
    draw().catch(showError);
  });
  document.getElementById("range").addEventListener("submit", (event) => {
    event.preventDefault();
    location.search = pageQuery({ from: document.getElementById("from").value, to: document.getElementById("to").value });
  });
  for (const id of ["from", "to"]) {
    document.getElementById(id).addEventListener("input", () => { document.getElementById("period").value = "custom"; });
  }
  document.getElementById("period").addEventListener("change", (event) => {
    const kind = event.target.value;
    if (!PERIODS.includes(kind) || !centerDay) return; // custom: the dates are the user's to set
    const [from, to] = periodRange(centerDay, kind);
    document.getElementById("from").value = from;
    document.getElementById("to").value = to;
    location.search = pageQuery({ period: kind });
  });
  load();
});
