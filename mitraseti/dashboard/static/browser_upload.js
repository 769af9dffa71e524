// MitraSETI browser upload: the browser PUTs the chosen file straight to the upload URLs the
// kernel obtained from the REST API (one URL, or one per 10 MB part), several parts at a time,
// with a progress bar. The kernel only sees the file's name and size, then the parts' ETags.
//
// Kernel -> browser: {type: "start", parallel,
//                     uploads: [{index, pieces: [{partNumber, url, offset, length}]}]}
//                    {type: "reset"}
// Browser -> kernel: {type: "progress", sent} (4 a second), then
//                    {type: "sent", etags: [{partNumber: etag}, ...] (one per upload)}
//                    | {type: "failed", message}
// ``index`` is the file's place among the picked files (``files``: [{name, size}]).
// Synced state: accept, multiple, limit_bytes, files, file_name, file_size (all files),
// sent_bytes, state, message. The
// browser sets the file fields when a file is picked; from "start" on, the kernel owns the
// state (custom messages keep their order, synced attributes may be sent late).

const RETRIES = 3;

function formatBytes(n) {      // binary multiples, as the dashboard's own sizes (1 MB = 2^20 B)
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function putPiece(file, piece, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", piece.url);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 300) {
        reject(new Error(`HTTP ${xhr.status}: ${xhr.responseText.slice(0, 300)}`));
      } else if (piece.partNumber !== null && !xhr.getResponseHeader("ETag")) {
        reject(new Error("the upload URL answered without an ETag header that this page " +
                         "may read (CORS: it must expose ETag)"));
      } else {
        resolve(xhr.getResponseHeader("ETag") || "");
      }
    };
    xhr.onerror = () => reject(new Error("network error: the upload URL cannot be reached " +
                                         "from this browser or does not allow this page"));
    xhr.send(file.slice(piece.offset, piece.offset + piece.length));
  });
}

async function sendAll(file, pieces, parallel, report) {
  const loaded = new Map();
  const etags = {};
  const queue = pieces.slice();
  const progress = () => report([...loaded.values()].reduce((a, b) => a + b, 0));
  async function worker() {
    while (queue.length) {
      const piece = queue.shift();
      for (let attempt = 1; ; attempt += 1) {
        try {
          const etag = await putPiece(file, piece, (n) => { loaded.set(piece, n); progress(); });
          loaded.set(piece, piece.length);
          progress();
          etags[String(piece.partNumber)] = etag;
          break;
        } catch (err) {
          loaded.set(piece, 0);
          if (attempt >= RETRIES) throw err;
        }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  return etags;
}

function render({ model, el }) {
  el.classList.add("mitraseti-browser-upload");
  const input = document.createElement("input");
  input.type = "file";
  input.className = "browser-upload-input";
  input.accept = model.get("accept");
  input.multiple = model.get("multiple");
  const limit = document.createElement("div");
  limit.className = "browser-upload-limit";
  const bar = document.createElement("progress");
  bar.className = "browser-upload-progress";
  bar.max = 1;
  bar.value = 0;
  bar.style.width = "420px";
  const text = document.createElement("div");
  text.className = "browser-upload-status";
  el.append(input, limit, bar, text);
  let picked = [];
  let localSent = null;       // bytes sent while this view uploads (drawn without a round trip)
  let lastReport = 0;

  function draw() {
    const max = model.get("limit_bytes");
    limit.textContent = max ? `limit: ${formatBytes(max)} per file` : "";
    const size = model.get("file_size");
    const sent = localSent === null ? model.get("sent_bytes") : localSent;
    bar.value = size ? sent / size : 0;
    const state = model.get("state");
    el.dataset.state = state;
    const parts = [];
    if (model.get("file_name")) parts.push(`${model.get("file_name")} (${formatBytes(size)})`);
    if (state === "uploading" || state === "finishing" || state === "done") {
      parts.push(`sent ${formatBytes(sent)} of ${formatBytes(size)} ` +
                 `(${size ? Math.floor((100 * sent) / size) : 100} %)`);
    }
    if (model.get("message")) parts.push(model.get("message"));
    text.textContent = parts.join(" · ");
  }

  input.addEventListener("change", () => {
    picked = input.files ? [...input.files] : [];
    const max = model.get("limit_bytes");
    const total = picked.reduce((a, f) => a + f.size, 0);
    const name = picked.length === 1 ? picked[0].name : `${picked.length} files`;
    const big = picked.filter((f) => max && f.size > max);
    const files = picked.map((f) => ({ name: f.name, size: f.size }));
    if (big.length) {
      model.set({ files, file_name: name, file_size: total, sent_bytes: 0, state: "error",
                  message: `${big.map((f) => f.name).join(", ")}: larger than the limit ` +
                           `of ${formatBytes(max)}` });
      picked = [];
    } else if (picked.length) {
      model.set({ files, file_name: name, file_size: total, sent_bytes: 0, state: "chosen",
                  message: "" });
    } else {
      model.set({ files: [], file_name: "", file_size: 0, sent_bytes: 0, state: "empty",
                  message: "" });
    }
    model.save_changes();
  });

  async function onMessage(msg) {
    if (msg.type === "reset") {
      picked = [];
      input.value = "";
      return;
    }
    const uploads = msg.uploads || [];
    if (msg.type !== "start" || !uploads.every((u) => picked[u.index])) return;  // not ours
    const chosen = picked;
    input.disabled = true;
    localSent = 0;
    const report = (sent) => {
      localSent = sent;
      const now = Date.now();
      if (now - lastReport > 250) { lastReport = now; model.send({ type: "progress", sent }); }
      draw();
    };
    try {
      const etags = [];
      let before = 0;
      for (const u of uploads) {           // one file after the other, its parts in parallel
        const file = chosen[u.index];
        etags.push(await sendAll(file, u.pieces, msg.parallel || 3,
                                 (sent) => report(before + sent)));
        before += file.size;
      }
      model.send({ type: "sent", etags });
    } catch (err) {
      model.send({ type: "failed", message: String(err.message || err) });
    } finally {
      localSent = null;
      input.disabled = false;
      draw();
    }
  }

  const watched = ["limit_bytes", "file_name", "file_size", "sent_bytes", "state", "message"];
  model.on("msg:custom", onMessage);
  for (const name of watched) model.on(`change:${name}`, draw);
  draw();
  return () => {
    model.off("msg:custom", onMessage);
    for (const name of watched) model.off(`change:${name}`, draw);
  };
}

export default { render };
