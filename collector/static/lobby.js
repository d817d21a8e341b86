// The lobby screen: today's figures, read with a display token every REFRESH_MS.
// The token comes in the address's fragment (/lobby#token=rct_...), which browsers never send to a
// server; it is kept in this browser's storage so that the screen comes back after a reload, and
// taken off the address so that it is not shown on the screen.
"use strict";

const REFRESH_MS = 30000;
const STORE = "rating-lobby-token";
const WORDS = {
  vi: {
    title: "Mức độ hài lòng của người dân hôm nay", rate_today: "Hài lòng hôm nay",
    total_today: "Lượt đánh giá hôm nay", rate_month: "Hài lòng tháng này", counters: "Theo quầy",
    recent: "Đánh giá mới nhất", counter: "Quầy", ratings: "lượt", few: "chưa đủ lượt để kết luận",
    none_today: "Chưa có đánh giá hôm nay.",
    no_token: "Màn hình chưa có mã hiển thị: mở /lobby#token=... (rating-collector token create --role display).",
    refused: "Mã hiển thị không hợp lệ hoặc đã bị thu hồi.", offline: "Mất kết nối tới máy chủ; đang thử lại.",
  },
  en: {
    title: "Citizens' satisfaction today", rate_today: "Satisfied today", total_today: "Ratings today",
    rate_month: "Satisfied this month", counters: "By counter", recent: "Latest ratings", counter: "Counter",
    ratings: "ratings", few: "too few ratings to tell", none_today: "No ratings yet today.",
    no_token: "This screen has no display token: open /lobby#token=... (rating-collector token create --role display).",
    refused: "The display token is not valid or was revoked.", offline: "The server cannot be reached; retrying.",
  },
};
const lang = new URLSearchParams(location.search).get("lang") === "en" ? "en" : "vi";
const words = WORDS[lang];
let zone = "Asia/Ho_Chi_Minh";  // the API says which; times are the center's, not the browser's

function token() {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    localStorage.setItem(STORE, given);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem(STORE);
}

function percent(rate) {
  return rate === null ? "-" : (rate * 100).toFixed(1).replace(".", lang === "vi" ? "," : ".") + "%";
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;  // text, never markup: names come from the registry
  return node;
}

function clock(moment) {
  return new Intl.DateTimeFormat(lang === "vi" ? "vi-VN" : "en-GB",
    { timeZone: zone, hour: "2-digit", minute: "2-digit", ...(moment ? {} : { weekday: "long", day: "numeric", month: "numeric", year: "numeric" }) })
    .format(moment || new Date());
}

function draw(body) {
  zone = body.timezone;
  document.getElementById("rate-today").textContent = percent(body.today.satisfaction_rate);
  document.getElementById("total-today").textContent = String(body.today.total);
  document.getElementById("rate-month").textContent = percent(body.month.satisfaction_rate);
  const tiles = document.getElementById("counters");
  tiles.replaceChildren(...body.counters.map((c) => {
    const tile = element("li");
    tile.dataset.counter = c.code;
    tile.append(element("div", "code", `${words.counter} ${c.code}`), element("div", "name", c.name || ""),
      element("div", "rate", percent(c.satisfaction_rate)), element("div", "total", `${c.total} ${words.ratings}`));
    if (c.few_ratings) tile.append(element("div", "few", words.few));
    return tile;
  }));
  if (!body.counters.length) tiles.append(element("li", "none", words.none_today));
  document.getElementById("recent").replaceChildren(...body.recent.map((r) => {
    const item = element("li", r.satisfied ? "good" : "bad",
      `${clock(new Date(r.at))} · ${words.counter} ${r.counter} · ${lang === "vi" ? r.label_vi : r.label_en}`);
    return item;
  }));
  document.getElementById("clock").textContent = clock();
  document.getElementById("error").textContent = "";
  document.body.dataset.loaded = "true";
}

async function refresh() {
  const key = token();
  if (!key) {
    document.getElementById("error").textContent = words.no_token;
    return;
  }
  try {
    const answer = await fetch("/api/v1/lobby", { headers: { Authorization: `Bearer ${key}` }, cache: "no-store" });
    if (answer.status === 401 || answer.status === 403) {
      document.getElementById("error").textContent = words.refused;
    } else if (answer.ok) {
      draw(await answer.json());
    } else {
      document.getElementById("error").textContent = words.offline;
    }
  } catch (error) {
    document.getElementById("error").textContent = words.offline;
  }
  setTimeout(refresh, REFRESH_MS);
}

document.documentElement.lang = lang;
document.title = words.title;
for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = words[node.dataset.i18n];
refresh();
