// imagelake dashboard: shared helpers, gallery placeholders and the image page.
"use strict";

const imagelake = (() => {
  function toLogin() {
    const here = location.pathname + location.search;
    location.assign("/login?next=" + encodeURIComponent(here));
  }

  // Same-origin calls ride on the session cookie; the header is what the API's CSRF rule asks for.
  async function api(method, url) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "X-Requested-With": "XMLHttpRequest", Accept: "application/json" },
    });
    if (response.status === 401) {
      toLogin();
      throw new Error("signed out");
    }
    const body = response.status === 204 ? null : await response.json();
    if (!response.ok) {
      const message = body && body.error ? body.error.message : response.statusText;
      throw new Error(message);
    }
    return body;
  }

  function pickSize(thumbnails, atLeast) {
    const sizes = Object.keys(thumbnails).map(Number).sort((a, b) => a - b);
    const size = sizes.find((s) => s >= atLeast) ?? sizes[sizes.length - 1];
    return thumbnails[String(size)];
  }

  // Poll an image until its thumbnails are ready (or failed), backing off to 5 s.
  async function whenProcessed(imageId) {
    let delay = 500;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      const image = await api("GET", "/images/" + encodeURIComponent(imageId));
      if (image.status !== "processing") return image;
      delay = Math.min(delay * 1.5, 5000);
    }
  }

  return { api, pickSize, whenProcessed, toLogin };
})();

function watchGallery() {
  for (const card of document.querySelectorAll('.card[data-status="processing"]')) {
    imagelake.whenProcessed(card.dataset.imageId).then((image) => {
      card.dataset.status = image.status;
      const link = card.querySelector(".thumb");
      if (image.status === "ready" && image.thumbnails) {
        const img = document.createElement("img");
        img.src = imagelake.pickSize(image.thumbnails, 240);
        img.srcset = `${img.src} 1x, ${imagelake.pickSize(image.thumbnails, 480)} 2x`;
        img.alt = "Image " + image.image_id;
        img.loading = "lazy";
        link.replaceChildren(img);
      } else {
        link.innerHTML = '<span class="placeholder failed">Failed</span>';
      }
    }, console.warn);
  }
}

// This image's requests per day, from the lake through the stats API.
async function drawHistory(detail) {
  const box = document.getElementById("history");
  const days = Number(box.dataset.days);
  const query = new URLSearchParams({
    by: "day",
    since: charts.sinceDay(days),
    image_id: detail.dataset.imageId,
  });
  const body = await imagelake.api("GET", "/stats/requests?" + query);
  const rows = Array.isArray(body) ? body : body.rows;
  charts.perDay(box, document.getElementById("history-table"), rows, days);
}

// Swap in the server-rendered request stats, so numbers look the same as after a reload.
async function refreshRequests(detail, before) {
  for (let i = 0; i < 30; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const response = await fetch(location.pathname, { credentials: "same-origin" });
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("requests");
    if (fresh && fresh.textContent !== before) {
      document.getElementById("requests").replaceWith(fresh);
      return drawHistory(detail);
    }
  }
}

function watchImagePage(detail) {
  drawHistory(detail).catch(console.warn);
  if (detail.dataset.status === "processing") {
    imagelake.whenProcessed(detail.dataset.imageId).then(() => location.reload(), console.warn);
  }
  for (const link of detail.querySelectorAll("a.download")) {
    link.addEventListener("click", () => {
      const before = document.getElementById("requests").textContent;
      refreshRequests(detail, before).catch(console.warn);
    });
  }
  const remove = document.getElementById("delete-image");
  remove.addEventListener("click", async () => {
    if (!confirm("Delete this image and all its thumbnails?")) return;
    try {
      await imagelake.api("DELETE", "/images/" + encodeURIComponent(detail.dataset.imageId));
      location.assign("/");
    } catch (error) {
      alert("Could not delete: " + error.message);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.getElementById("gallery")) watchGallery();
  const detail = document.getElementById("detail");
  if (detail) watchImagePage(detail);
});
