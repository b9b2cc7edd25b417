// Sift's retrieval playground: builds a Retrieve, ContextualRetrieval or SemanticQuery request from the form, sends it
// to this origin's API, and renders the nodes (score bars per leg and highlighted matches when Explain is on), the
// request as curl and as an official-SDK call, and any error envelope. No framework, no build step, no other origin.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const OPERATIONS = {
    Retrieve: { family: "bailian", history: true },
    ContextualRetrieval: { family: "imm", history: true },
    SemanticQuery: { family: "imm", history: false },
  };

  // --- small helpers -------------------------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function operation() {
    return document.querySelector('input[name="operation"]:checked').value;
  }

  function numberOf(input) {
    // "" for an empty or unparsable number input: the parameter is left out and the server's default applies.
    const raw = input.value.trim();
    if (raw === "") return undefined;
    const value = Number(raw);
    return Number.isFinite(value) ? value : raw;
  }

  function apiUrl(path) {
    // Relative to the page, so a stage prefix (API Gateway's /api/) is kept.
    return new URL(path, document.baseURI).href;
  }

  function fixed(value, digits) {
    return typeof value === "number" ? value.toFixed(digits === undefined ? 3 : digits) : "—";
  }

  // --- the form ------------------------------------------------------------------------------------------------------

  function updateVisibility() {
    const op = operation();
    const spec = OPERATIONS[op];
    $("kb-target").hidden = spec.family !== "bailian";
    $("imm-target").hidden = spec.family !== "imm";
    for (const node of document.querySelectorAll(".kb-only")) node.hidden = op !== "Retrieve";
    for (const node of document.querySelectorAll(".cr-only")) node.hidden = op !== "ContextualRetrieval";
    for (const node of document.querySelectorAll(".sq-only")) node.hidden = op !== "SemanticQuery";
    $("instruct-row").hidden = op !== "Retrieve" || $("rerank-mode").value !== "custom";
    $("history-block").hidden = !spec.history;
    $("history-hint").textContent = op === "Retrieve"
      ? "Conversation so far (QueryHistory, read when EnableRewrite is on; optional)."
      : "Conversation so far (the Messages before the question; optional). It alternates user and assistant.";
    $("query-label").textContent = op === "ContextualRetrieval" ? "Current question (the last user message)" : "Query";
    if (spec.family === "imm" && !datasetsLoaded) loadDatasets();
  }

  function updateFusion() {
    const method = $("fusion-method").value;
    $("dense-weight").disabled = method === "rrf";
    $("rrf-k").disabled = method === "confidence" || method === "minmax";
  }

  function historyMessages() {
    return Array.from($("history").querySelectorAll("li")).map((item) => ({
      role: item.dataset.role,
      content: item.querySelector("textarea").value,
    }));
  }

  function relabelHistory() {
    Array.from($("history").querySelectorAll("li")).forEach((item, position) => {
      const role = position % 2 === 0 ? "user" : "assistant";
      item.dataset.role = role;
      item.querySelector("label").textContent = `${position + 1}. ${role}`;
      item.querySelector("button").setAttribute("aria-label", `Remove message ${position + 1} (${role})`);
    });
  }

  let messageCount = 0;
  function addMessage(content) {
    messageCount += 1;
    const id = `message-${messageCount}`;
    const remove = el("button", { type: "button", class: "remove", text: "Remove" });
    const item = el("li", {}, el("label", { for: id }), el("textarea", { id, rows: 2 }), remove);
    item.querySelector("textarea").value = content || "";
    remove.addEventListener("click", () => {
      item.remove();
      relabelHistory();
      $("add-message").focus();
    });
    $("history").append(item);
    relabelHistory();
    return item;
  }

  function fusion() {
    const method = $("fusion-method").value;
    const value = {};
    if (method) value.Method = method;
    const weight = $("dense-weight").disabled ? undefined : numberOf($("dense-weight"));
    const k = $("rrf-k").disabled ? undefined : numberOf($("rrf-k"));
    if (weight !== undefined) value.DenseWeight = weight;
    if (k !== undefined) value.RrfK = k;
    return Object.keys(value).length ? value : undefined;
  }

  class FormError extends Error {}

  function searchFilters() {
    const raw = $("filters").value.trim();
    $("filters").removeAttribute("aria-invalid");
    $("filters-error").textContent = "";
    if (!raw) return undefined;
    try {
      return JSON.parse(raw);
    } catch (error) {
      $("filters").setAttribute("aria-invalid", "true");
      $("filters-error").textContent = `Not JSON: ${error.message}`;
      throw new FormError("SearchFilters is not valid JSON; nothing was sent.");
    }
  }

  // The request the form describes: {operation, path (relative), body}.
  function buildRequest() {
    const op = operation();
    const query = $("query").value;
    const body = {};
    let path;
    if (op === "Retrieve") {
      path = `${encodeURIComponent($("workspace").value.trim())}/index/retrieve`;
      body.IndexId = $("index").value.trim();
      body.Query = query;
      const history = historyMessages();
      if (history.length) body.QueryHistory = history;
      const topN = numberOf($("top-n"));
      if (topN !== undefined) body.RerankTopN = topN;
      const dense = numberOf($("dense-k"));
      const sparse = numberOf($("sparse-k"));
      if (dense !== undefined) body.DenseSimilarityTopK = dense;
      if (sparse !== undefined) body.SparseSimilarityTopK = sparse;
      body.EnableReranking = $("rerank").checked;
      body.EnableRewrite = $("rewrite").checked;
      const rerank = {};
      if ($("rerank-model").value) rerank.ModelName = $("rerank-model").value;
      if ($("rerank-mode").value) rerank.RerankMode = $("rerank-mode").value;
      if ($("rerank-mode").value === "custom" && $("rerank-instruct").value) {
        rerank.RerankInstruct = $("rerank-instruct").value;
      }
      if (body.EnableReranking && Object.keys(rerank).length) body.Rerank = [rerank];
      const filters = searchFilters();
      if (filters !== undefined) body.SearchFilters = filters;
    } else {
      path = `imm/${op}`;
      body.ProjectName = $("project").value.trim();
      body.DatasetName = $("dataset").value.trim();
      if (op === "ContextualRetrieval") {
        body.Messages = [...historyMessages(), { role: "user", content: query }]
          .map((message) => ({ Role: message.role, Content: message.content }));
        if ($("recall-only").checked) body.RecallOnly = true;
      } else {
        body.Query = query;
        const max = numberOf($("max-results"));
        if (max !== undefined) body.MaxResults = max;
        const types = $("media-types").value.split(",").map((type) => type.trim()).filter(Boolean);
        if (types.length) body.MediaTypes = types;
      }
    }
    if ($("explain").checked) body.Explain = true;
    const fused = fusion();
    if (fused) body.Fusion = fused;
    return { operation: op, path, body };
  }

  // --- copyable forms of the request ---------------------------------------------------------------------------------

  function shellQuote(text) {
    return `'${text.replace(/'/g, "'\\''")}'`;
  }

  function curlCommand(request) {
    return `curl -s ${shellQuote(apiUrl(request.path))} -H 'Content-Type: application/json' -d ${shellQuote(
      JSON.stringify(request.body, null, 2))}`;
  }

  // A Python literal of a JSON value (a JSON string literal is a valid Python one).
  function py(value) {
    if (value === null || value === undefined) return "None";
    if (value === true) return "True";
    if (value === false) return "False";
    if (Array.isArray(value)) return `[${value.map(py).join(", ")}]`;
    if (typeof value === "object") {
      return `{${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${py(item)}`).join(", ")}}`;
    }
    return JSON.stringify(value);
  }

  function snake(name) {
    return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2").toLowerCase();
  }

  function sdkCall(request) {
    const body = request.body;
    const page = new URL(document.baseURI);
    const config = `Config(access_key_id="local", access_key_secret="local", endpoint=${py(page.host)}, ` +
      `protocol=${py(page.protocol.replace(":", ""))})`;
    const extensions = ["Explain", "Fusion"].filter((name) => name in body);
    const note = extensions.length
      ? [`# ${extensions.join(" and ")}: Sift extensions the SDK has no field for; the curl form sends them.`] : [];
    const lines = [];
    if (request.operation === "Retrieve") {
      const args = [];
      for (const [name, value] of Object.entries(body)) {
        if (name === "Explain" || name === "Fusion") continue;
        let literal;
        if (name === "QueryHistory") {
          literal = `[${value.map((message) => `models.RetrieveRequestQueryHistory(role=${py(message.role)}, ` +
            `content=${py(message.content)})`).join(", ")}]`;
        } else if (name === "Rerank") {
          literal = `[${value.map((config) => `models.RetrieveRequestRerank(${Object.entries(config)
            .map(([key, item]) => `${snake(key)}=${py(item)}`).join(", ")})`).join(", ")}]`;
        } else if (name === "SearchFilters" && Array.isArray(value)) {
          // The SDK types each filter as Dict[str, str]: what is not text travels JSON-encoded.
          literal = `[${value.map((filter) => (filter && typeof filter === "object" && !Array.isArray(filter)
            ? `{${Object.entries(filter).map(([key, item]) => `${JSON.stringify(key)}: ${
              py(typeof item === "string" ? item : JSON.stringify(item))}`).join(", ")}}`
            : py(filter))).join(", ")}]`;
        } else {
          literal = py(value);
        }
        args.push(`    ${snake(name)}=${literal},`);
      }
      const workspace = decodeURIComponent(request.path.split("/")[0]);
      lines.push(
        "from alibabacloud_bailian20231229.client import Client",
        "from alibabacloud_bailian20231229 import models",
        "from alibabacloud_tea_openapi.models import Config",
        "",
        `client = Client(${config})`,
        "request = models.RetrieveRequest(",
        ...args,
        ")",
        ...note,
        `reply = client.retrieve(${py(workspace)}, request)`,
        'print([node.metadata["doc_name"] for node in reply.body.data.nodes])',
      );
    } else {
      const args = [];
      for (const [name, value] of Object.entries(body)) {
        if (name === "Explain" || name === "Fusion") continue;
        const literal = name === "Messages"
          ? `[${value.map((message) => `models.ContextualMessage(role=${py(message.Role)}, ` +
            `content=${py(message.Content)})`).join(", ")}]`
          : py(value);
        args.push(`    ${snake(name)}=${literal},`);
      }
      const contextual = request.operation === "ContextualRetrieval";
      lines.push(
        "from alibabacloud_imm20200930.client import Client",
        "from alibabacloud_imm20200930 import models",
        "from alibabacloud_tea_openapi.models import Config",
        "",
        `client = Client(${config})`,
        `request = models.${request.operation}Request(`,
        ...args,
        ")",
        ...note,
        `reply = client.${contextual ? "contextual_retrieval" : "semantic_query"}(request)`,
        `print([file.uri for file in reply.body.${contextual ? "results" : "files"}])`,
      );
    }
    return lines.join("\n");
  }

  async function copy(targetId, button) {
    const text = $(targetId).textContent;
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        copied = true;
      }
    } catch (_error) {
      copied = false;
    }
    if (!copied) {
      // Without clipboard access (an insecure origin, a denied permission): select the text and copy that.
      const range = document.createRange();
      range.selectNodeContents($(targetId));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try {
        copied = document.execCommand("copy");
      } catch (_error) {
        copied = false;
      }
    }
    setStatus(copied ? `Copied the ${button.textContent.replace(/^Copy /, "")} command.`
      : "Could not reach the clipboard: the text is selected, copy it with Ctrl+C.");
  }

  // --- rendering -----------------------------------------------------------------------------------------------------

  function setStatus(text) {
    $("status").textContent = text;
  }

  function highlighted(text, matches) {
    // Explain.Matches offsets count code points, so the text is sliced as an array of code points, not UTF-16 units.
    const fragment = document.createDocumentFragment();
    const chars = Array.from(text || "");
    let cursor = 0;
    const sorted = (matches || []).slice().sort((a, b) => a.Start - b.Start || b.End - a.End);
    for (const match of sorted) {
      const start = Math.max(match.Start, cursor);
      const end = Math.min(match.End, chars.length);
      if (!(end > start)) continue;
      if (start > cursor) fragment.append(chars.slice(cursor, start).join(""));
      fragment.append(el("mark", { title: `matches “${match.Term}”` }, chars.slice(start, end).join("")));
      cursor = end;
    }
    if (cursor < chars.length) fragment.append(chars.slice(cursor).join(""));
    return fragment;
  }

  function bar(leg, label, value, detail) {
    const known = typeof value === "number" && Number.isFinite(value);
    const width = known ? Math.max(0, Math.min(1, value)) * 100 : 0;
    const meter = el("div", {
      class: `bar bar-${leg}`, role: "meter", "aria-label": label,
      "aria-valuemin": 0, "aria-valuemax": 1, "aria-valuenow": known ? value : null,
      "aria-valuetext": known ? `${value.toFixed(3)}${detail ? ", " + detail : ""}` : detail || "not found",
      "data-leg": leg, "data-value": known ? value : "",
    }, el("span", { class: "fill" }));
    meter.firstChild.style.width = `${width.toFixed(1)}%`;
    return el("div", { class: "bar-row" },
      el("span", { class: "bar-label", text: label }), meter,
      el("span", { class: "bar-value", text: known ? value.toFixed(3) : "—" }),
      el("span", { class: "bar-detail", text: detail || "" }));
  }

  function legDetail(leg, scoreName) {
    if (!leg) return "not found by this leg";
    return `${scoreName} ${fixed(leg.Score, 3)} · rank ${leg.Rank}`;
  }

  function fusionDetail(fusion) {
    if (!fusion) return "one leg, no fusion";
    if (fusion.Method === "rrf") return `rrf · k ${fusion.RrfK} · ${fusion.Legs} legs`;
    const prior = typeof fusion.PriorDenseWeight === "number" && fusion.PriorDenseWeight !== fusion.DenseWeight
      ? ` (prior ${fixed(fusion.PriorDenseWeight, 2)})` : "";
    return `${fusion.Method} · dense weight ${fixed(fusion.DenseWeight, 2)}${prior} · ${fusion.Legs} legs`;
  }

  function explanation(explain, typed) {
    const box = el("div", { class: "explain" });
    const queries = explain.Queries || [];
    queries.forEach((query, position) => {
      const group = el("div", { class: "query-legs" });
      const searched = query.Text && query.Text !== typed ? `searched: “${query.Text}”` : "";
      const title = queries.length > 1 ? `Query ${position + 1}${position === 0 ? " (focus)" : " (context)"}` : "";
      if (title || searched) {
        group.append(el("p", { class: "query-title" }, title ? el("strong", { text: title }) : null,
          title && searched ? " " : "", searched));
      }
      group.append(bar("dense", "Dense", query.Dense ? query.Dense.Normalized : null, legDetail(query.Dense, "cosine")));
      group.append(bar("sparse", "Sparse", query.Sparse ? query.Sparse.Normalized : null,
        legDetail(query.Sparse, "BM25")));
      if (query.Image) {
        group.append(bar("image", "Image", query.Image.Normalized, legDetail(query.Image, "cosine")));
      }
      group.append(bar("fused", "Fused", query.FusedScore, fusionDetail(query.Fusion)));
      box.append(group);
    });
    if (queries.length > 1) box.append(bar("fused", "Fused (mean)", explain.FusedScore, "mean of the queries"));
    const rerank = explain.Rerank;
    if (rerank) {
      const detail = rerank.Score === null || rerank.Score === undefined
        ? `below the rerank depth (${rerank.Depth}): kept in fused order${typeof rerank.Floor === "number"
          ? `, scored at most ${rerank.Floor.toFixed(3)}` : ""}`
        : `${rerank.Model}${rerank.Mode ? " · " + rerank.Mode : ""}${rerank.Rank ? " · rank " + rerank.Rank : ""}`;
      box.append(bar("rerank", "Rerank", rerank.Score, detail));
    }
    box.append(bar("score", "Score", explain.Score, rerank ? "the node's score" : "fused: no rerank"));
    return box;
  }

  function metadataTable(metadata) {
    const table = el("table", { class: "metadata" });
    const body = el("tbody");
    for (const [key, value] of Object.entries(metadata || {})) {
      body.append(el("tr", {}, el("th", { scope: "row", text: key }),
        el("td", { text: typeof value === "string" ? value : JSON.stringify(value) })));
    }
    table.append(body);
    return table;
  }

  function nodeCard(rank, card) {
    const item = el("li", { class: "node", "data-rank": rank });
    item.append(el("div", { class: "node-head" },
      el("span", { class: "rank", text: `#${rank}` }),
      el("span", { class: "node-title", text: card.title }),
      el("span", { class: "node-score", title: card.scoreName, text: `${card.scoreName} ${fixed(card.score, 4)}` })));
    if (card.explain) item.append(explanation(card.explain, card.typed));
    item.append(el("p", { class: "node-text", tabindex: 0, "aria-label": `Text of result ${rank}` },
      highlighted(card.text, card.explain ? card.explain.Matches : null)));
    for (const [summary, content] of card.details) {
      item.append(el("details", {}, el("summary", { text: summary }), content));
    }
    return item;
  }

  function retrieveCards(data, typed) {
    return ((data && data.Nodes) || []).map((node) => ({
      title: (node.Metadata && (node.Metadata.hier_title || node.Metadata.title || node.Metadata.doc_name)) || "",
      score: node.Score, scoreName: "Score", text: node.Text, explain: node.Explain, typed,
      details: [
        ["Metadata", metadataTable(node.Metadata)],
        ...(node.Explain ? [["Explain (raw)", el("pre", { text: JSON.stringify(node.Explain, null, 2) })]] : []),
      ],
    }));
  }

  function fileCards(files, typed) {
    return (files || []).map((file) => {
      const elements = file.Elements || [];
      const content = file.Explain && typeof file.Explain.Content === "string" ? file.Explain.Content
        : elements.length && elements[0].ElementContents && elements[0].ElementContents.length
          ? elements[0].ElementContents[0].Content : "";
      const { Elements: _elements, Explain: _explain, ...fields } = file;
      const details = [["File", metadataTable(fields)]];
      if (elements.length) {
        const list = el("ol", { class: "elements" });
        for (const element of elements) {
          const text = element.ElementContents && element.ElementContents.length ? element.ElementContents[0].Content : "";
          list.append(el("li", {},
            el("span", { class: "node-score", text: `SemanticSimilarity ${fixed(element.SemanticSimilarity, 4)}` }),
            el("p", { class: "node-text" }, highlighted(text, element.Explain ? element.Explain.Matches : null))));
        }
        details.push([`Elements (${elements.length})`, list]);
      }
      if (file.Explain) details.push(["Explain (raw)", el("pre", { text: JSON.stringify(file.Explain, null, 2) })]);
      return {
        title: file.Filename || file.URI || file.ObjectId || "", score: file.SemanticSimilarity,
        scoreName: "SemanticSimilarity", text: content, explain: file.Explain, typed, details,
      };
    });
  }

  function showError(status, body, fallback) {
    const box = $("error");
    box.replaceChildren();
    const code = body && typeof body === "object" && body.Code ? String(body.Code) : "";
    const message = body && typeof body === "object" && body.Message ? String(body.Message) : fallback || "";
    box.append(el("h3", {}, status ? `HTTP ${status}` : "Request failed", code ? " · " : "",
      code ? el("code", { class: "error-code", text: code }) : null));
    box.append(el("p", { class: "error-message", text: message || "The server answered without a message." }));
    if (body && typeof body === "object" && body.Recommend) {
      box.append(el("p", { class: "hint", text: `Recommend: ${body.Recommend}` }));
    }
    if (body && typeof body === "object" && body.RequestId) {
      box.append(el("p", { class: "hint" }, "RequestId ", el("code", { text: String(body.RequestId) })));
    }
    box.hidden = false;
    if (status && /SearchFilters/.test(message)) {  // the server's verdict on the filters, also beside the field
      $("filters").setAttribute("aria-invalid", "true");
      $("filters-error").textContent = message;
    }
  }

  function clearResults() {
    $("error").hidden = true;
    $("error").replaceChildren();
    $("nodes").replaceChildren();
  }

  async function readReply(response) {
    const text = await response.text();
    try {
      return { body: JSON.parse(text), text };
    } catch (_error) {
      return { body: null, text };
    }
  }

  // --- running -------------------------------------------------------------------------------------------------------

  let running = false;
  async function run(event) {
    if (event) event.preventDefault();
    if (running) return;
    clearResults();
    let request;
    try {
      request = buildRequest();
    } catch (error) {
      if (!(error instanceof FormError)) throw error;
      showError(0, null, error.message);
      $("summary").textContent = "Nothing was sent.";
      return;
    }
    $("request-body").textContent = JSON.stringify(request.body, null, 2);
    $("curl").textContent = curlCommand(request);
    $("sdk").textContent = sdkCall(request);
    $("request-panel").hidden = false;
    running = true;
    $("run").disabled = true;
    setStatus("Running…");
    $("summary").textContent = "";
    const started = performance.now();
    try {
      const response = await fetch(request.path, {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(request.body),
      });
      const reply = await readReply(response);
      const elapsed = Math.round(performance.now() - started);
      $("response-body").textContent = reply.body ? JSON.stringify(reply.body, null, 2) : reply.text;
      $("response-panel").hidden = false;
      const failed = !response.ok || !reply.body || reply.body.Success === false;
      if (failed) {
        showError(response.status, reply.body, reply.body ? "" : `Not JSON: ${reply.text.slice(0, 300)}`);
        $("summary").textContent = `HTTP ${response.status} in ${elapsed} ms.`;
        setStatus(`Error ${response.status}.`);
        return;
      }
      const typed = request.body.Query || $("query").value;
      const cards = request.operation === "Retrieve" ? retrieveCards(reply.body.Data, typed)
        : fileCards(request.operation === "ContextualRetrieval" ? reply.body.Results : reply.body.Files, typed);
      cards.forEach((card, position) => $("nodes").append(nodeCard(position + 1, card)));
      const noun = request.operation === "Retrieve" ? "node" : "file";
      $("summary").replaceChildren(
        `${cards.length} ${noun}${cards.length === 1 ? "" : "s"} · HTTP ${response.status} · ${elapsed} ms · RequestId `,
        el("code", { text: String(reply.body.RequestId || "") }));
      setStatus(`${cards.length} ${noun}${cards.length === 1 ? "" : "s"}.`);
    } catch (error) {
      showError(0, null, `Could not reach the server: ${error.message}`);
      setStatus("Error.");
    } finally {
      running = false;
      $("run").disabled = false;
    }
  }

  function fillList(list, values) {
    list.replaceChildren(...values.map(([value, label]) => el("option", { value, label })));
  }

  async function loadIndices() {
    const workspace = $("workspace").value.trim();
    const status = $("indices-status");
    status.textContent = "Listing indices…";
    try {
      const response = await fetch(`${encodeURIComponent(workspace)}/index/list_indices?PageSize=100`,
        { headers: { Accept: "application/json" } });
      const reply = await readReply(response);
      if (!response.ok || !reply.body || !reply.body.Success) {
        status.textContent = `ListIndices: HTTP ${response.status} ${(reply.body && reply.body.Code) || ""}: ${
          (reply.body && reply.body.Message) || reply.text.slice(0, 200)}`;
        return;
      }
      const indices = reply.body.Data.Indices || [];
      fillList($("index-list"), indices.map((index) => [index.Id, index.Name]));
      if (indices.length && !indices.some((index) => index.Id === $("index").value.trim())) {
        $("index").value = indices[0].Id;
      }
      status.textContent = indices.length
        ? `${indices.length} ${indices.length === 1 ? "index" : "indices"} in ${workspace}: ${
          indices.map((index) => `${index.Id} (${index.Name}, ${index.DocumentCount} documents)`).join(", ")}`
        : `No index in ${workspace}.`;
    } catch (error) {
      status.textContent = `ListIndices failed: ${error.message}`;
    }
  }

  let datasetsLoaded = false;
  async function loadDatasets() {
    datasetsLoaded = true;
    const project = $("project").value.trim();
    const status = $("datasets-status");
    status.textContent = "Listing datasets…";
    try {
      const response = await fetch("imm/ListDatasets", {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ ProjectName: project, MaxResults: 200 }),
      });
      const reply = await readReply(response);
      if (!response.ok || !reply.body || reply.body.Code) {
        status.textContent = `ListDatasets: HTTP ${response.status} ${(reply.body && reply.body.Code) || ""}: ${
          (reply.body && reply.body.Message) || reply.text.slice(0, 200)}`;
        return;
      }
      const datasets = reply.body.Datasets || [];
      fillList($("dataset-list"), datasets.map((dataset) => [dataset.DatasetName, dataset.Description || ""]));
      if (datasets.length && !datasets.some((dataset) => dataset.DatasetName === $("dataset").value.trim())) {
        $("dataset").value = datasets[0].DatasetName;
      }
      status.textContent = datasets.length
        ? `${datasets.length} dataset${datasets.length === 1 ? "" : "s"} in ${project}: ${
          datasets.map((dataset) => dataset.DatasetName).join(", ")}`
        : `No dataset in ${project}.`;
    } catch (error) {
      status.textContent = `ListDatasets failed: ${error.message}`;
    }
  }

  // --- wiring --------------------------------------------------------------------------------------------------------

  function start() {
    const params = new URLSearchParams(location.search);
    for (const [param, id] of [["workspace", "workspace"], ["index", "index"], ["project", "project"],
      ["dataset", "dataset"], ["query", "query"]]) {
      if (params.has(param)) $(id).value = params.get(param);
    }
    if (params.has("operation") && OPERATIONS[params.get("operation")]) {
      document.querySelector(`input[name="operation"][value="${params.get("operation")}"]`).checked = true;
    }
    $("query-form").addEventListener("submit", run);
    for (const radio of document.querySelectorAll('input[name="operation"]')) {
      radio.addEventListener("change", updateVisibility);
    }
    $("rerank-mode").addEventListener("change", updateVisibility);
    $("fusion-method").addEventListener("change", updateFusion);
    $("add-message").addEventListener("click", () => addMessage("").querySelector("textarea").focus());
    $("load-indices").addEventListener("click", loadIndices);
    $("load-datasets").addEventListener("click", loadDatasets);
    $("workspace").addEventListener("change", loadIndices);
    $("project").addEventListener("change", loadDatasets);
    $("filters").addEventListener("input", () => {
      $("filters").removeAttribute("aria-invalid");
      $("filters-error").textContent = "";
    });
    for (const button of document.querySelectorAll("button.copy")) {
      button.addEventListener("click", () => copy(button.dataset.target, button));
    }
    document.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.closest("#query-form")) {
        event.preventDefault();
        $("query-form").requestSubmit();
      }
    });
    updateFusion();
    updateVisibility();
    loadIndices();
    document.body.dataset.ready = "true";
  }

  window.addEventListener("error", (event) => {
    showError(0, null, `The page hit an error: ${event.message}`);
  });
  window.addEventListener("unhandledrejection", (event) => {
    showError(0, null, `The page hit an error: ${event.reason && event.reason.message ? event.reason.message : event.reason}`);
  });
  start();
})();
