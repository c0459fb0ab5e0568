// Analytics page: the stats API's rows drawn as a uPlot bar chart and two ranked bar lists.
"use strict";

const DAY_MS = 86400000;
const TOP = 10;
let chart = null;

function rowsOf(body) {
  return Array.isArray(body) ? body : body.rows;
}

function countOf(row) {
  return Number(row.requests);
}

function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

function statsUrl(by, since) {
  const query = new URLSearchParams({ by, since });
  if (by !== "day") query.set("top", String(TOP));
  return "/stats/requests?" + query;
}

function renderSummary(summary) {
  const labels = {
    requests: "Requests",
    images: "Images requested",
    users: "Users",
    unique_users: "Users",
    unique_images: "Images requested",
  };
  const box = document.getElementById("summary");
  box.replaceChildren();
  for (const [key, value] of Object.entries(summary)) {
    if (typeof value !== "number" || !(key in labels)) continue;
    const card = document.createElement("div");
    card.className = "stat";
    card.dataset.key = key;
    card.innerHTML = '<span class="value"></span><span class="label"></span>';
    card.querySelector(".value").textContent = value.toLocaleString("en");
    card.querySelector(".label").textContent = labels[key];
    box.append(card);
  }
}

// Every day of the range, zero where nothing was requested: a gap is news too.
function perDaySeries(rows, days) {
  const byDay = new Map(rows.map((row) => [String(row.day).slice(0, 10), countOf(row)]));
  const now = new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const xs = [];
  const ys = [];
  for (let i = days - 1; i >= 0; i--) {
    const ms = today - i * DAY_MS;
    xs.push(ms / 1000);
    ys.push(byDay.get(isoDay(ms)) ?? 0);
  }
  return [xs, ys];
}

function renderPerDay(rows, days) {
  const data = perDaySeries(rows, days);
  const box = document.getElementById("per-day");
  const styles = getComputedStyle(document.documentElement);
  const accent = styles.getPropertyValue("--accent").trim() || "#2f6fde";
  const muted = styles.getPropertyValue("--muted").trim() || "#6b7385";
  const line = styles.getPropertyValue("--line").trim() || "#e3e6ec";
  const axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line } };
  const options = {
    width: Math.max(box.clientWidth, 300),
    height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] } },
    axes: [axis, { ...axis, values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? t : "")) }],
    legend: { show: true },
    cursor: { points: { show: false } },
    series: [
      { value: "{YYYY}-{MM}-{DD}" },
      {
        label: "Requests",
        stroke: accent,
        fill: accent + "cc",
        paths: uPlot.paths.bars({ size: [0.7, 40], align: 0 }),
        points: { show: false },
      },
    ],
  };
  if (chart) chart.destroy();
  box.replaceChildren();
  chart = new uPlot(options, data, box);
  box.dataset.total = String(data[1].reduce((a, b) => a + b, 0));

  const body = document.querySelector("#per-day-table tbody");
  body.replaceChildren();
  data[0].forEach((x, i) => {
    if (!data[1][i]) return;
    const tr = document.createElement("tr");
    tr.innerHTML = "<td></td><td></td>";
    tr.cells[0].textContent = isoDay(x * 1000);
    tr.cells[1].textContent = data[1][i];
    body.append(tr);
  });
}

function barRow(label, count, max, href) {
  const li = document.createElement("li");
  li.className = "bar";
  li.innerHTML = '<span class="label"></span><span class="count"></span><span class="track"><span class="fill"></span></span>';
  const name = li.querySelector(".label");
  if (href) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = label;
    name.append(a);
  } else {
    name.textContent = label;
  }
  li.querySelector(".count").textContent = count.toLocaleString("en");
  li.querySelector(".fill").style.width = (100 * count) / max + "%";
  return li;
}

function emptyRow(list) {
  const li = document.createElement("li");
  li.className = "none";
  li.textContent = "No requests in this range.";
  list.replaceChildren(li);
}

async function thumbnailOf(imageId, placeholder) {
  try {
    const image = await imagelake.api("GET", "/images/" + encodeURIComponent(imageId));
    if (!image.thumbnails) return;
    const img = document.createElement("img");
    img.className = "mini";
    img.alt = "";
    img.src = imagelake.pickSize(image.thumbnails, 80);
    placeholder.replaceWith(img);
  } catch (error) {
    placeholder.title = "deleted";
  }
}

function renderTopImages(rows) {
  const list = document.getElementById("top-images");
  if (!rows.length) return emptyRow(list);
  const max = Math.max(...rows.map(countOf));
  list.replaceChildren(
    ...rows.map((row) => {
      const li = barRow(row.image_id.slice(0, 8) + "…", countOf(row), max, "/view/" + row.image_id);
      li.dataset.imageId = row.image_id;
      const placeholder = document.createElement("span");
      placeholder.className = "mini";
      li.prepend(placeholder);
      thumbnailOf(row.image_id, placeholder);
      return li;
    }),
  );
}

function renderTopUsers(rows) {
  const list = document.getElementById("top-users");
  if (!rows.length) return emptyRow(list);
  const max = Math.max(...rows.map(countOf));
  list.replaceChildren(
    ...rows.map((row) => {
      const li = barRow(row.user_id, countOf(row), max, null);
      li.classList.add("user");
      li.dataset.userId = row.user_id;
      return li;
    }),
  );
}

async function load(days) {
  const error = document.getElementById("analytics-error");
  const since = isoDay(Date.now() - (days - 1) * DAY_MS);
  try {
    const [summary, perDay, images, users] = await Promise.all([
      imagelake.api("GET", "/stats/summary?" + new URLSearchParams({ since })),
      imagelake.api("GET", statsUrl("day", since)),
      imagelake.api("GET", statsUrl("image", since)),
      imagelake.api("GET", statsUrl("user", since)),
    ]);
    error.hidden = true;
    renderSummary(summary);
    renderPerDay(rowsOf(perDay), days);
    renderTopImages(rowsOf(images));
    renderTopUsers(rowsOf(users));
    document.body.dataset.loaded = String(days);
  } catch (failure) {
    error.textContent = "Could not load the statistics: " + failure.message;
    error.hidden = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const buttons = document.querySelectorAll(".range button");
  for (const button of buttons) {
    button.addEventListener("click", () => {
      for (const other of buttons) other.setAttribute("aria-pressed", String(other === button));
      load(Number(button.dataset.days));
    });
  }
  window.addEventListener("resize", () => {
    const box = document.getElementById("per-day");
    if (chart) chart.setSize({ width: Math.max(box.clientWidth, 300), height: 260 });
  });
  load(Number(document.querySelector('.range button[aria-pressed="true"]').dataset.days));
});
