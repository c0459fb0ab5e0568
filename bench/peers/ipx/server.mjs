// ipx (sharp underneath) as a peer of bench/delivery.py: node server.mjs PHOTOS_DIR PORT
//
// One node process on 127.0.0.1, ipx's own node listener (h3) on node's http server. sharp
// runs each render on libuv's thread pool (4 threads by default), each with libvips' own
// threads, so one process uses both cores. Changed from ipx's defaults, each said in the
// benchmark's output: no libvips operation cache (every request renders), baseline JPEG
// (ipx asks sharp for progressive by default; the other two servers write baseline), and
// EXIF orientation applied (as imagelake and thumbor's RESPECT_ORIENTATION do).
import http from "node:http";
import { readFileSync } from "node:fs";
import sharp from "sharp";
import { createIPX, createIPXNodeServer, ipxFSStorage } from "ipx";

const [dir, port] = process.argv.slice(2);
if (!dir || !port) {
  console.error("usage: node server.mjs PHOTOS_DIR PORT");
  process.exit(2);
}
sharp.cache(false);
const ipx = createIPX({
  storage: ipxFSStorage({ dir }),
  sharpOptions: { jpegProgressive: false, autoOrient: true },
});
const meta = (name) =>
  JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, import.meta.url))).version;
const server = http.createServer(createIPXNodeServer(ipx));
server.keepAliveTimeout = 60_000;
server.listen(Number(port), "127.0.0.1", () => {
  const versions = `ipx ${meta("ipx")}, sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`;
  console.log(`listening on 127.0.0.1:${port}: ${versions}, node ${process.version}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
