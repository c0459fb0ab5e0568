// Requests per day as a uPlot bar chart, with the same numbers in a table beside it.
"use strict";

const charts = (() => {
  const DAY_MS = 86400000;
  const HEIGHT = 240;
  const HALF_DAY_S = 43200; // so the first and last bars are whole

  function isoDay(ms) {
    return new Date(ms).toISOString().slice(0, 10);
  }

  function sinceDay(days) {
    return isoDay(Date.now() - (days - 1) * DAY_MS);
  }

  // Every day of the range, zero where nothing was requested: a gap is news too.
  function series(rows, days) {
    const byDay = new Map(rows.map((row) => [String(row.day).slice(0, 10), Number(row.requests)]));
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

  function options(box) {
    const styles = getComputedStyle(document.documentElement);
    const color = (name, fallback) => styles.getPropertyValue(name).trim() || fallback;
    const accent = color("--accent", "#2f6fde");
    const axis = {
      stroke: color("--muted", "#6b7385"),
      grid: { stroke: color("--line", "#e3e6ec"), width: 1 },
      ticks: { stroke: color("--line", "#e3e6ec") },
    };
    const wholeNumbers = (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? t : ""));
    return {
      width: Math.max(box.clientWidth, 280),
      height: HEIGHT,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: {
        x: { time: true, range: (u, min, max) => [min - HALF_DAY_S, max + HALF_DAY_S] },
        y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
      },
      axes: [axis, { ...axis, values: wholeNumbers }],
      cursor: { points: { show: false } },
      series: [
        { label: "Day", value: "{YYYY}-{MM}-{DD}" },
        {
          label: "Requests",
          stroke: accent,
          width: 0,
          fill: accent + "cc",
          paths: uPlot.paths.bars({ size: [0.7, 40], align: 0 }),
          points: { show: false },
        },
      ],
    };
  }

  function fillTable(table, data) {
    const body = table.tBodies[0];
    body.replaceChildren();
    data[0].forEach((x, i) => {
      if (!data[1][i]) return;
      const row = body.insertRow();
      row.insertCell().textContent = isoDay(x * 1000);
      row.insertCell().textContent = data[1][i];
    });
  }

  // Draw (or redraw) into box; box.dataset.total says how many requests the chart shows.
  function perDay(box, table, rows, days) {
    const data = series(rows, days);
    if (box.chart) box.chart.destroy();
    box.replaceChildren();
    box.chart = new uPlot(options(box), data, box);
    box.dataset.total = String(data[1].reduce((a, b) => a + b, 0));
    if (table) fillTable(table, data);
    if (!box.resizeWatched) {
      box.resizeWatched = true;
      new ResizeObserver(() => box.chart.setSize({ width: Math.max(box.clientWidth, 280), height: HEIGHT })).observe(box);
    }
  }

  return { perDay, sinceDay };
})();
