// sharp baseline for bench/thumbnails.py: node bench.js PHOTO_DIR ROUNDS
// Prints JSON: versions and, per photo, the best CPU ms (process.cpuUsage: user + system,
// all threads) for one 512 px thumbnail ("one") and for 128/256/512 ("three").
'use strict';
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

sharp.concurrency(1); // one libvips thread per image, like VipsEngine(threads=1)
sharp.cache(false); // no operation cache, like pyvips.cache_set_max(0)

const SIZES = [128, 256, 512];

// What AWS's Serverless Image Handler does for a resize: auto-orient, fit inside, no
// enlargement, flatten any alpha onto white for JPEG.
function thumbnail(image, size) {
  return image
    .resize(size, size, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 82 })
    .toBuffer();
}

async function one(data) {
  return thumbnail(sharp(data).rotate(), 512);
}

async function three(data) {
  // clone() shares the input; each clone runs its own pipeline (its own decode).
  const base = sharp(data).rotate();
  const out = [];
  for (const size of SIZES) out.push(await thumbnail(base.clone(), size));
  return out;
}

async function cpuMs(fn, data) {
  const start = process.cpuUsage();
  await fn(data);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

async function main() {
  const dir = process.argv[2];
  const rounds = Number(process.argv[3] || 2);
  const names = fs.readdirSync(dir).filter((name) => /\.(jpe?g|png)$/i.test(name)).sort();
  const photos = names.map((name) => fs.readFileSync(path.join(dir, name)));
  // Load the codecs before the clock starts, on tiny images.
  const tiny = sharp({ create: { width: 64, height: 48, channels: 4, background: '#808080' } });
  for (const data of [await tiny.clone().png().toBuffer(), await tiny.clone().jpeg().toBuffer()]) {
    await three(data);
  }
  const results = {};
  for (const name of names) results[name] = { one: Infinity, three: Infinity };
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const result = results[names[i]];
      result.one = Math.min(result.one, await cpuMs(one, photos[i]));
      result.three = Math.min(result.three, await cpuMs(three, photos[i]));
    }
  }
  console.log(JSON.stringify({ sharp: sharp.versions.sharp, vips: sharp.versions.vips, photos: results }));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
