// Analytics page: the stats API's rows drawn as a uPlot bar chart and two ranked bar lists.
"use strict";

const TOP = 10;

function rowsOf(body) {
  return Array.isArray(body) ? body : body.rows;
}

function countOf(row) {
  return Number(row.requests);
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
      li.classList.add("by-user");
      li.dataset.userId = row.user_id;
      return li;
    }),
  );
}

async function load(days) {
  const error = document.getElementById("analytics-error");
  const since = charts.sinceDay(days);
  try {
    const [summary, perDay, images, users] = await Promise.all([
      imagelake.api("GET", "/stats/summary?" + new URLSearchParams({ since })),
      imagelake.api("GET", statsUrl("day", since)),
      imagelake.api("GET", statsUrl("image", since)),
      imagelake.api("GET", statsUrl("user", since)),
    ]);
    error.hidden = true;
    renderSummary(summary);
    const table = document.getElementById("per-day-table");
    charts.perDay(document.getElementById("per-day"), table, rowsOf(perDay), days);
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
  load(Number(document.querySelector('.range button[aria-pressed="true"]').dataset.days));
});
