// The page of `suny serve`: one ES module, no framework, nothing fetched from outside this server.
// The HTTP API it speaks is described in src/suny/serve/app.py. Every string that comes from a user
// or the server (file names, class names, concepts, messages) is inserted with textContent, never
// as HTML.

const $ = (selector, root = document) => root.querySelector(selector);

const ui = {
  imageList: $("#image-list"),
  upload: $("#upload"),
  dropZone: $("#drop-zone"),
  uploadError: $("#upload-error"),
  uploadNote: $("#upload-note"),
  model: $("#model"),
  layer: $("#layer"),
  target: $("#target"),
  searchBox: $("#class-search-box"),
  search: $("#class-search"),
  searchResults: $("#class-results"),
  methods: $("#methods"),
  run: $("#run"),
  cancel: $("#cancel"),
  progress: $("#progress"),
  status: $("#status"),
  preview: $("#preview"),
  previewImage: $("#preview-image"),
  results: $("#results"),
  detail: $("#cause-detail"),
  readout: $("#hover-readout"),
  storeLink: $("#store-link"),
  version: $("#version"),
  cardTemplate: $("#card-template"),
};

// Readable names of the registry's methods; a name not listed here is shown as it is.
const LABELS = {
  "suny-feature": "SUNY-feature",
  "suny-filter": "SUNY-filter",
  gradcam: "Grad-CAM",
  "gradcam++": "Grad-CAM++",
  "smoothgradcam++": "Smooth Grad-CAM++",
  scorecam: "Score-CAM",
  groupcam: "Group-CAM",
  cexcnn: "CexCNN",
  rise: "RISE",
  smoothgrad: "SmoothGrad (pixels)",
};
const SLOW = new Set(["suny-feature", "scorecam", "rise", "groupcam", "smoothgradcam++", "smoothgrad"]);
const SEARCH = "__search__";

const state = {
  config: null,
  images: [],
  imageId: null,
  predictions: [],
  run: null, // the run in progress: {cancelled, jobId, source}
};

// ------------------------------------------------------------------------------------ helpers
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function detailOf(body, response) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => (d && d.msg) || String(d)).join("; ");
  return `HTTP ${response.status} ${response.statusText}`.trim();
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new ApiError(0, "the server did not answer (is suny serve still running?)");
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(response.status, detailOf(body, response));
  return body;
}

function postJSON(path, data) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(data),
  });
}

/** An element with text (never HTML), attributes and children. */
function el(tag, { text, className, attrs = {} } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

const label = (method) => LABELS[method] || method;
const fixed = (value, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : "–");
const imageUrl = (id) => `/api/images/${encodeURIComponent(id)}/image.png`;
const resultUrl = (id, file = "") => `/api/results/${encodeURIComponent(id)}${file ? `/${file}` : ""}`;

function setStatus(text, kind = "") {
  ui.status.textContent = text;
  ui.status.dataset.kind = kind;
}

function setProgress(done, total) {
  if (total === null || total === undefined || !(total > 0)) {
    ui.progress.removeAttribute("value"); // indeterminate
  } else {
    ui.progress.max = total;
    ui.progress.value = Math.min(done, total);
  }
}

// ------------------------------------------------------------------------------------- images
async function loadImages() {
  state.images = await api("/api/images");
  ui.imageList.replaceChildren(
    ...state.images.map((image) => {
      const button = el("button", {
        className: "image-item",
        attrs: { type: "button", "data-image-id": image.image_id, "data-source": image.source, title: image.name },
      });
      const thumb = el("img", { attrs: { src: imageUrl(image.image_id), alt: "", loading: "lazy" } });
      const name = el("span", { className: "image-name", text: image.name });
      const source = el("span", { className: "image-source", text: image.source });
      button.append(thumb, name, source);
      button.addEventListener("click", () => selectImage(image.image_id));
      return button;
    }),
  );
  markSelectedImage();
}

function markSelectedImage() {
  for (const button of ui.imageList.querySelectorAll(".image-item")) {
    button.setAttribute("aria-pressed", String(button.dataset.imageId === state.imageId));
  }
}

async function selectImage(imageId) {
  if (!state.images.some((image) => image.image_id === imageId)) return;
  state.imageId = imageId;
  markSelectedImage();
  ui.previewImage.src = imageUrl(imageId);
  clearResults();
  await loadPredictions();
}

// The server's 413 for a file over its limit, word for word (suny.serve.uploads.too_large): a file
// that large is refused here, before it is sent (the server still refuses it, but a browser still
// sending a body far over the limit may see the connection reset rather than the answer).
const tooLarge = (limit) => `the file is larger than the ${limit / 2 ** 20} MiB this server accepts (--max-upload-mb)`;

function refuseUpload(file, message) {
  // The server's messages about an image start with its name; the others get it in front.
  ui.uploadError.textContent = message.startsWith(`${file.name}: `) ? message : `${file.name}: ${message}`;
  setStatus("upload refused", "error");
}

async function upload(file) {
  if (!file) return;
  ui.uploadError.textContent = "";
  ui.uploadNote.textContent = "";
  try {
    const limit = state.config && state.config.upload_limit_bytes;
    if (limit && file.size > limit) {
      refuseUpload(file, tooLarge(limit));
      return;
    }
    setStatus(`uploading ${file.name}…`);
    const form = new FormData();
    form.append("file", file, file.name);
    const info = await api("/api/images", { method: "POST", body: form });
    await loadImages();
    await selectImage(info.image_id);
    setStatus(`uploaded ${info.name} (${info.width}×${info.height})`);
    if (info.note) ui.uploadNote.textContent = `${info.name}: ${info.note}`;
  } catch (error) {
    refuseUpload(file, `${error.message}${error.status ? ` (HTTP ${error.status})` : ""}`);
  } finally {
    ui.upload.value = "";
  }
}

function setUpUploads() {
  ui.upload.addEventListener("change", () => upload(ui.upload.files[0]));
  const zone = ui.dropZone;
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) upload(file);
  });
}

// ---------------------------------------------------------------------- model, layer, class
async function loadLayers() {
  const model = ui.model.value;
  ui.layer.replaceChildren(el("option", { text: "loading…", attrs: { value: "" } }));
  try {
    const { layers } = await api(`/api/models/${encodeURIComponent(model)}/layers`);
    ui.layer.replaceChildren(
      ...layers.map((layer) =>
        el("option", {
          text: layer.default ? `${layer.name} (default)` : layer.name,
          attrs: { value: layer.name, selected: layer.default },
        }),
      ),
    );
  } catch (error) {
    ui.layer.replaceChildren(el("option", { text: "default layer", attrs: { value: "" } }));
    setStatus(`layers of ${model}: ${error.message}`, "error");
  }
}

async function loadPredictions() {
  if (!state.imageId) return;
  const model = ui.model.value;
  const imageId = state.imageId;
  ui.target.replaceChildren(el("option", { text: "the predicted class", attrs: { value: "" } }));
  ui.target.append(el("option", { text: "by name…", attrs: { value: SEARCH } }));
  try {
    const query = `?model=${encodeURIComponent(model)}`;
    const { predictions } = await api(`/api/images/${encodeURIComponent(imageId)}/predictions${query}`);
    if (imageId !== state.imageId || model !== ui.model.value) return; // a newer choice won
    state.predictions = predictions;
    ui.target.replaceChildren(
      ...predictions.map((p, i) =>
        el("option", {
          text: `${p.name} — ${(100 * p.probability).toFixed(1)}%`,
          attrs: { value: i === 0 ? "" : p.index, "data-index": p.index },
        }),
      ),
      el("option", { text: "by name…", attrs: { value: SEARCH } }),
    );
  } catch (error) {
    setStatus(`predictions: ${error.message}`, "error");
  }
}

let searchTimer = null;
function setUpClassSearch() {
  ui.target.addEventListener("change", () => {
    const searching = ui.target.value === SEARCH;
    ui.searchBox.hidden = !searching;
    if (searching) ui.search.focus();
  });
  ui.search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchClasses, 200);
  });
}

async function searchClasses() {
  const q = ui.search.value.trim();
  if (!q) {
    ui.searchResults.replaceChildren();
    return;
  }
  try {
    const params = new URLSearchParams({ model: ui.model.value, q });
    const found = await api(`/api/classes?${params}`);
    const classes = Array.isArray(found) ? found : found.classes || [];
    ui.searchResults.replaceChildren(
      ...classes.map((c) => {
        const button = el("button", { text: `${c.name} (#${c.index})`, attrs: { type: "button" } });
        button.addEventListener("click", () => chooseClass(c));
        return el("li", {}, [button]);
      }),
    );
    if (!classes.length) ui.searchResults.append(el("li", { className: "muted", text: "no class matches" }));
  } catch (error) {
    ui.searchResults.replaceChildren(el("li", { className: "error", text: error.message }));
  }
}

function chooseClass(c) {
  let option = [...ui.target.options].find((o) => o.dataset.index === String(c.index));
  if (!option) {
    option = el("option", { text: `${c.name} (#${c.index})`, attrs: { value: c.index, "data-index": c.index } });
    ui.target.insertBefore(option, ui.target.lastElementChild);
  }
  ui.target.value = option.value;
  ui.searchBox.hidden = true;
  ui.searchResults.replaceChildren();
  ui.search.value = "";
}

function targetChoice() {
  const value = ui.target.value;
  return value === "" || value === SEARCH ? null : Number(value);
}

// ------------------------------------------------------------------------------------ methods
function buildMethods(config) {
  const suny = (config.cause_types || ["feature", "filter"]).map((cause) => `suny-${cause}`);
  const extra = Array.isArray(config.methods) ? config.methods.filter((m) => typeof m === "string") : [];
  const names = [...new Set([...suny, ...extra, ...(config.baselines || [])])];
  for (const name of names) {
    const input = el("input", {
      attrs: { type: "checkbox", name: "method", value: name, checked: name === "suny-filter" },
    });
    const text = el("span", { text: label(name) });
    const item = el("label", { className: "method", attrs: { title: SLOW.has(name) ? "slow on a CPU" : null } }, [
      input,
      text,
    ]);
    if (SLOW.has(name)) item.append(el("span", { className: "slow", text: "slow", attrs: { "aria-hidden": "true" } }));
    ui.methods.append(item);
  }
}

const chosenMethods = () => [...ui.methods.querySelectorAll("input[name=method]:checked")].map((i) => i.value);

// --------------------------------------------------------------------------------------- runs
function clearResults() {
  ui.detail.hidden = true;
  document.body.append(ui.detail, ui.readout);
  ui.results.replaceChildren();
  ui.preview.hidden = false;
}

function newCard(method) {
  const card = ui.cardTemplate.content.firstElementChild.cloneNode(true);
  card.dataset.method = method;
  card.dataset.state = "pending";
  card.dataset.kind = method.startsWith("suny-") ? "suny" : "heatmap";
  $(".card-title", card).textContent = label(method);
  $(".card-meta", card).textContent = "waiting…";
  $(".downloads", card).hidden = true;
  ui.results.append(card);
  return card;
}

async function run() {
  if (state.run || !state.imageId) return;
  const methods = chosenMethods();
  if (!methods.length) {
    setStatus("choose at least one method", "error");
    return;
  }
  clearResults();
  ui.preview.hidden = true;
  const cards = new Map(methods.map((m) => [m, newCard(m)]));
  const token = { cancelled: false, jobId: null, source: null };
  state.run = token;
  ui.run.disabled = true;
  ui.cancel.disabled = false;
  const started = performance.now();
  const request = { image_id: state.imageId, model: ui.model.value, layer: ui.layer.value || null, target: targetChoice() };
  let cached = 0;
  let finished = 0;
  const errors = [];
  for (const [i, method] of methods.entries()) {
    const card = cards.get(method);
    if (token.cancelled) {
      markCard(card, "cancelled", "cancelled");
      continue;
    }
    const counter = methods.length > 1 ? ` (${i + 1} of ${methods.length})` : "";
    setStatus(`running ${method}${counter}`, "busy");
    setProgress(0, null);
    markCard(card, "running", "running…");
    try {
      const job = await postJSON("/api/jobs", { ...request, method });
      token.jobId = job.job_id;
      if (token.cancelled) cancelJob(job.job_id);
      const end = await follow(job.job_id, method, counter, card, token);
      if (end.type === "result") {
        await showResult(card, end.resultId, Boolean(job.cached));
        cached += job.cached ? 1 : 0;
        finished += 1;
      } else if (end.type === "cancelled") {
        markCard(card, "cancelled", "cancelled");
        token.cancelled = true;
        setStatus("cancelled", "cancelled");
      } else {
        showCardError(card, end.detail);
        errors.push(`${method}: ${end.detail}`);
      }
    } catch (error) {
      showCardError(card, error.message);
      errors.push(`${method}: ${error.message}`);
    }
    token.jobId = null;
  }
  state.run = null;
  ui.run.disabled = false;
  ui.cancel.disabled = true;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (token.cancelled) {
    setStatus("cancelled", "cancelled");
    setProgress(0, 1);
  } else if (errors.length) {
    setStatus(`${finished} done in ${seconds} s; ${errors.join("; ")}`, "error");
  } else {
    const note = cached === 0 ? "" : cached === methods.length ? " (cached)" : ` (${cached} of ${methods.length} cached)`;
    setStatus(`done in ${seconds} s${note}`, "done");
    setProgress(1, 1);
  }
}

/** Follow a job's event stream to its end: {type: "result", resultId} | {type: "error", detail} |
 * {type: "cancelled"}. */
function follow(jobId, method, counter, card, token) {
  return new Promise((resolve) => {
    const source = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events`);
    token.source = source;
    let failures = 0;
    const finish = (end) => {
      source.close();
      token.source = null;
      resolve(end);
    };
    const data = (event) => {
      try {
        return JSON.parse(event.data || "{}");
      } catch {
        return {};
      }
    };
    source.addEventListener("progress", (event) => {
      failures = 0;
      const { done = 0, total = null } = data(event);
      setProgress(done, total);
      const count = total ? ` ${done}/${total}` : done ? ` ${done}` : "";
      if (!token.cancelled) setStatus(`running ${method}${count}${counter}`, "busy");
      $(".card-meta", card).textContent = `running…${count}`;
    });
    source.addEventListener("result", (event) => finish({ type: "result", resultId: data(event).result_id }));
    source.addEventListener("cancelled", () => finish({ type: "cancelled" }));
    source.addEventListener("error", (event) => {
      if (event.data !== undefined) {
        finish({ type: "error", detail: data(event).detail || "the method failed" });
      } else if (source.readyState === EventSource.CLOSED || ++failures > 3) {
        finish({ type: "error", detail: "the connection to the server was lost" });
      }
    });
  });
}

async function cancelJob(jobId) {
  try {
    await api(`/api/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST" });
  } catch (error) {
    if (error.status !== 404 && error.status !== 409) setStatus(`cancel: ${error.message}`, "error");
  }
}

function cancel() {
  const token = state.run;
  if (!token || token.cancelled) return;
  token.cancelled = true;
  ui.cancel.disabled = true;
  setStatus("cancelling…", "busy");
  if (token.jobId) cancelJob(token.jobId);
}

function markCard(card, cardState, text) {
  card.dataset.state = cardState;
  $(".card-meta", card).textContent = text;
}

function showCardError(card, message) {
  markCard(card, "error", "failed");
  const box = $(".card-error", card);
  box.textContent = message;
  box.hidden = false;
}

// ------------------------------------------------------------------------------------ results
async function fetchValues(resultId) {
  const response = await fetch(resultUrl(resultId, "values.bin"));
  if (!response.ok) throw new ApiError(response.status, `values.bin: HTTP ${response.status}`);
  const buffer = await response.arrayBuffer();
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (littleEndian) return new Float32Array(buffer);
  const view = new DataView(buffer);
  return Float32Array.from({ length: buffer.byteLength / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

async function showResult(card, resultId, cached) {
  const [result, values] = await Promise.all([api(resultUrl(resultId)), fetchValues(resultId)]);
  const overlay = $("img.overlay", card);
  overlay.src = resultUrl(resultId, "overlay.png");
  const suny = result.kind === "suny";
  overlay.alt = suny
    ? `${label(result.method)}: necessity (blue) and sufficiency (red) over the image`
    : `${label(result.method)}: heatmap over the image (jet, blue low, red high)`;
  try {
    await overlay.decode();
  } catch {
    /* a broken picture shows as such */
  }
  card.dataset.resultId = resultId;
  card.dataset.kind = result.kind;
  card.dataset.cached = String(cached);
  const target = result.target_name ? `${result.target_name} (${(100 * result.probability).toFixed(1)}%)` : `class ${result.target}`;
  const parts = [target, result.layer, `${fixed(result.seconds, 1)} s`];
  if (result.forward_passes) parts.push(`${result.forward_passes} passes`);
  if (cached) parts.push("cached");
  markCard(card, "done", parts.filter(Boolean).join(" · "));
  $(".legend", card).hidden = !suny;
  $(".jet-legend", card).hidden = suny;
  const links = [
    [".download-png", "overlay.png", `${result.method}.png`],
    [".download-npz", "maps.npz", `${result.method}.npz`],
    [".download-summary", "summary.json", `${result.method}-summary.json`],
  ];
  for (const [selector, file, name] of links) {
    const link = $(selector, card);
    link.href = resultUrl(resultId, file);
    link.download = name;
  }
  $(".downloads", card).hidden = false;
  setUpHover(card, overlay, result, values);
  if (suny && !ui.readout.closest(".result")) {
    ui.readout.textContent = "point at the map for N and S";
    $(".readout-slot", card).append(ui.readout);
  }
  if (suny) showCauses(card, result);
}

function setUpHover(card, overlay, result, values) {
  const { width, height } = result;
  const suny = result.kind === "suny";
  const slot = $(".readout-slot", card);
  const marker = $(".marker", card);
  overlay.addEventListener("pointermove", (event) => {
    const box = overlay.getBoundingClientRect();
    if (!box.width || !box.height) return;
    const column = Math.min(width - 1, Math.max(0, Math.floor(((event.clientX - box.left) / box.width) * width)));
    const row = Math.min(height - 1, Math.max(0, Math.floor(((event.clientY - box.top) / box.height) * height)));
    const index = row * width + column;
    if (ui.readout.parentElement !== slot) slot.append(ui.readout);
    marker.style.left = `${event.clientX - box.left}px`;
    marker.style.top = `${event.clientY - box.top}px`;
    marker.hidden = false;
    ui.readout.dataset.method = result.method;
    ui.readout.classList.remove("stale");
    ui.readout.textContent = suny
      ? `N ${fixed(values[index])} · S ${fixed(values[width * height + index])}`
      : `value ${fixed(values[index])}`;
  });
  overlay.addEventListener("pointerleave", () => {
    ui.readout.classList.add("stale");
    marker.hidden = true;
  });
}

function showCauses(card, result) {
  const box = $(".causes", card);
  const groups = [
    ["necessary", "Necessary causes", "R_N"],
    ["sufficient", "Sufficient causes", "R_S"],
  ];
  for (const [key, title, symbol] of groups) {
    const causes = result[key] || [];
    const row = el("div", { className: "cause-row" });
    for (const cause of causes) {
      const button = el("button", {
        className: "cause",
        attrs: { type: "button", "data-cause": cause.cause, "data-kind": key, "aria-pressed": "false" },
      });
      const thumb = el("img", {
        attrs: { src: resultUrl(result.result_id, `causes/${cause.cause}.png`), alt: "", loading: "lazy" },
      });
      const caption = el("span", { className: "caption" }, [
        el("span", { className: "cause-id", text: `#${cause.cause}` }),
        el("span", { className: "cause-r", text: `${symbol} ${fixed(cause.responsibility, 3)}` }),
      ]);
      if (cause.concept) caption.append(el("span", { className: "concept", text: cause.concept }));
      button.setAttribute("aria-label", `${result.cause || ""} ${cause.cause}: ${symbol} ${fixed(cause.responsibility, 3)}`.trim());
      button.append(thumb, caption);
      button.addEventListener("click", () => showCauseDetail(card, result, cause));
      row.append(button);
    }
    if (!causes.length) row.append(el("p", { className: "muted", text: "none with a positive responsibility" }));
    box.append(el("div", { className: "cause-group" }, [el("h4", { text: title }), row]));
  }
  box.hidden = false;
}

function showCauseDetail(card, result, cause) {
  const k = cause.cause;
  const find = (key) => (result[key] || []).find((c) => c.cause === k);
  const necessary = find("necessary");
  const sufficient = find("sufficient");
  const unit = result.cause === "filter" ? "filter" : "feature map";
  const name = cause.concept ? ` — ${cause.concept}` : "";
  $(".detail-title", ui.detail).textContent = `${label(result.method)}: ${unit} #${k}${name}`;
  $(".detail-image", ui.detail).src = resultUrl(result.result_id, "overlay.png");
  const mask = $(".detail-mask", ui.detail);
  mask.src = resultUrl(result.result_id, `causes/${k}.png`);
  const rows = [
    ["E_N", fixed(cause.effect_necessity, 3), "the prediction's drop when this cause is removed"],
    ["E_S", fixed(cause.effect_sufficiency, 3), "the prediction kept when this cause alone is kept"],
  ];
  if (necessary) rows.push(["R_N", `${fixed(necessary.responsibility, 3)} ± ${fixed(necessary.stderr, 3)}`, "responsibility for necessity"]);
  if (sufficient) rows.push(["R_S", `${fixed(sufficient.responsibility, 3)} ± ${fixed(sufficient.stderr, 3)}`, "responsibility for sufficiency"]);
  $(".detail-values", ui.detail).replaceChildren(
    ...rows.flatMap(([term, value, help]) => [
      el("dt", { text: term, attrs: { title: help } }),
      el("dd", { text: value, attrs: { "data-term": term } }),
    ]),
  );
  for (const button of card.querySelectorAll(".cause")) {
    button.setAttribute("aria-pressed", String(button.dataset.cause === String(k)));
  }
  ui.detail.dataset.cause = String(k);
  ui.detail.dataset.method = result.method;
  $(".causes", card).after(ui.detail);
  ui.detail.hidden = false;
  ui.detail.scrollIntoView({ block: "nearest" });
}

// ---------------------------------------------------------------------------------------- init
async function init() {
  setUpUploads();
  setUpClassSearch();
  ui.run.addEventListener("click", run);
  ui.cancel.addEventListener("click", cancel);
  $(".close", ui.detail).addEventListener("click", () => {
    ui.detail.hidden = true;
  });
  ui.model.addEventListener("change", async () => {
    clearResults();
    await Promise.all([loadLayers(), loadPredictions()]);
  });
  try {
    const config = await api("/api/config");
    state.config = config;
    ui.version.textContent = config.version ? `v${config.version}` : "";
    ui.storeLink.hidden = !config.bench_store;
    if (config.upload_limit_bytes) {
      const mib = config.upload_limit_bytes / 2 ** 20;
      ui.upload.title = `the largest upload: ${mib >= 1 ? mib.toFixed(0) : mib.toFixed(1)} MiB`;
    }
    for (const model of config.models || []) {
      ui.model.append(el("option", { text: model, attrs: { value: model, selected: model === config.default_model } }));
    }
    buildMethods(config);
    await loadImages();
    await loadLayers();
    if (state.images.length) await selectImage(state.images[0].image_id);
    setStatus("ready");
  } catch (error) {
    setStatus(`the page could not start: ${error.message}`, "error");
  }
}

init();
