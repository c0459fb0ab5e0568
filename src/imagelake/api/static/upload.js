// Drag-and-drop upload with per-file progress: XMLHttpRequest, because fetch() reports no upload progress.
"use strict";

function uploadOne(file, row) {
  const bar = row.querySelector("progress");
  const state = row.querySelector(".state");
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/images");
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      bar.value = event.loaded / event.total;
      state.textContent = Math.round(100 * bar.value) + "%";
    });
    xhr.addEventListener("load", () => {
      const body = xhr.response;
      if (xhr.status === 401) return imagelake.toLogin();
      if (xhr.status !== 200 && xhr.status !== 201) {
        const message = body && body.error ? body.error.message : "HTTP " + xhr.status;
        finish(row, "error", message);
        return resolve();
      }
      bar.value = 1;
      const name = row.querySelector(".name");
      name.innerHTML = "";
      const link = document.createElement("a");
      link.href = "/view/" + encodeURIComponent(body.image_id);
      link.textContent = file.name;
      name.append(link);
      row.dataset.imageId = body.image_id;
      finish(row, "uploaded", body.duplicate ? "Already uploaded" : "Processing…");
      showWhenReady(body, row);
      resolve();
    });
    xhr.addEventListener("error", () => {
      finish(row, "error", "Network error");
      resolve();
    });
    xhr.send(file);
  });
}

function finish(row, kind, text) {
  row.classList.add(kind === "error" ? "error" : "done");
  row.querySelector(".state").textContent = text;
}

function showWhenReady(image, row) {
  const show = (ready) => {
    const state = row.querySelector(".state");
    if (ready.status === "ready" && ready.thumbnails) {
      const img = document.createElement("img");
      img.className = "mini";
      img.alt = "";
      img.src = imagelake.pickSize(ready.thumbnails, 112);
      row.querySelector(".mini").replaceWith(img);
      state.textContent = "Ready";
    } else if (ready.status === "failed") {
      row.classList.replace("done", "error");
      state.textContent = "Failed: " + (ready.failure_reason || "unknown");
    }
    row.dataset.status = ready.status;
  };
  if (image.status !== "processing") return show(image);
  imagelake.whenProcessed(image.image_id).then(show, console.warn);
}

function addRow(file) {
  const row = document.createElement("li");
  row.className = "upload";
  row.innerHTML =
    '<span class="mini"></span><span class="name"></span><span class="state">Waiting…</span>' +
    '<progress max="1" value="0"></progress>';
  row.querySelector(".name").textContent = file.name;
  return row;
}

async function uploadAll(files, maxBytes) {
  const queued = [...files].map((file) => [file, addRow(file)]);
  // The newest batch on top, its files in the order they were dropped.
  document.getElementById("uploads").prepend(...queued.map(([, row]) => row));
  for (const [file, row] of queued) {
    if (file.size > maxBytes) {
      finish(row, "error", "Too large");
      continue;
    }
    await uploadOne(file, row); // one at a time, so each gets the full bandwidth
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("file-input");
  const maxBytes = Number(zone.dataset.maxBytes);
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });
  input.addEventListener("change", () => {
    uploadAll(input.files, maxBytes);
    input.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) {
      uploadAll(event.dataTransfer.files, maxBytes);
    }
  });
  // A file dropped next to the zone should not navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
});
