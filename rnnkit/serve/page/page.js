// The page of `rnnkit serve`: the run (config, metrics, plots) and a form for its task's inference.
// Plain script, no build step: it calls the same JSON endpoints a client would.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function call(path, body, raw) {
  const response = await fetch(path, raw ? {method: "POST", body: body, headers: {"Content-Type": "audio/wav"}}
    : {method: "POST", body: JSON.stringify(body), headers: {"Content-Type": "application/json"}});
  const data = await response.json();
  if (!response.ok) {
    const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : data.detail;
    throw new Error(`${response.status}: ${detail}`);
  }
  return data;
}

function showError(error) {
  $("result").replaceChildren(el("p", {class: "error", id: "error", text: String(error.message || error)}));
}

function fmt(value) {
  return typeof value === "number" ? Number(value.toPrecision(4)).toString() : String(value);
}

// Numbers from a pasted or uploaded CSV: a header row is skipped; each row gives its last numeric cell
// (the value, after a time or index column if there is one).
function parseValues(text) {
  const rows = text.trim().split(/\r?\n/).map((line) => line.split(/[,;\t]/));
  const values = [];
  for (const row of rows) {
    const cells = row.map(Number).filter((x, i) => row[i].trim() !== "" && Number.isFinite(x));
    if (cells.length) values.push(cells[cells.length - 1]);
  }
  return values;
}

// A line chart in SVG: series [{values, color, label}], an optional band [{lower, upper}] after an offset.
function chart(series, band, offset) {
  const width = 900, height = 280, pad = 36;
  const all = series.flatMap((s) => s.values).concat(band ? band.lower.concat(band.upper) : []);
  const n = Math.max(...series.map((s) => (s.start || 0) + s.values.length), 2);
  let lo = Math.min(...all), hi = Math.max(...all);
  if (!(hi > lo)) { lo -= 1; hi += 1; }
  const x = (i) => pad + (i / (n - 1)) * (width - 2 * pad);
  const y = (v) => height - pad - ((v - lo) / (hi - lo)) * (height - 2 * pad);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", "100%");
  const add = (tag, attrs) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    svg.append(node);
    return node;
  };
  if (band) {
    const upper = band.upper.map((v, i) => `${x(offset + i)},${y(v)}`);
    const lower = band.lower.map((v, i) => `${x(offset + i)},${y(v)}`).reverse();
    add("polygon", {points: upper.concat(lower).join(" "), fill: "#3b6fd8", "fill-opacity": 0.18});
  }
  for (const s of series) {
    const start = s.start || 0;
    add("polyline", {points: s.values.map((v, i) => `${x(start + i)},${y(v)}`).join(" "), fill: "none",
                     stroke: s.color, "stroke-width": 2, class: "series"});
    for (const [i, flag] of (s.flags || []).entries()) {
      if (flag) add("circle", {cx: x(start + i), cy: y(s.values[i]), r: 4, fill: "#d33", class: "flag"});
    }
  }
  if (series.threshold !== undefined) {
    add("line", {x1: pad, x2: width - pad, y1: y(series.threshold), y2: y(series.threshold), stroke: "#d33",
                 "stroke-dasharray": "4 4"});
  }
  for (const v of [lo, hi]) add("text", {x: 2, y: y(v) + 4, "font-size": 11, fill: "#5c6475"}).textContent = fmt(v);
  return svg;
}

const forms = {
  sentiment(info) {
    const text = el("textarea", {id: "input", placeholder: "One text per line"});
    text.value = "a gripping, beautifully acted film\nthe plot is thin and the jokes fall flat";
    const go = el("button", {id: "go", text: "Classify"});
    go.onclick = async () => {
      try {
        const texts = text.value.split(/\n/).filter((t) => t.trim());
        const out = await call("/predict", {texts});
        const rows = out.predictions.map((p, i) => el("tr", {}, el("td", {text: texts[i]}),
          el("td", {class: "label", text: p.label}),
          el("td", {text: fmt(Math.max(...p.probabilities))})));
        $("result").replaceChildren(el("table", {id: "output"},
          el("tr", {}, el("th", {text: "text"}), el("th", {text: "class"}), el("th", {text: "probability"})), ...rows));
      } catch (error) { showError(error); }
    };
    return [el("p", {text: "Texts in, a class for each out."}), text, go];
  },
  translate(info) {
    const text = el("textarea", {id: "input", placeholder: "One input per line"});
    const go = el("button", {id: "go", text: "Translate"});
    go.onclick = async () => {
      try {
        const texts = text.value.split(/\n/).filter((t) => t.trim());
        const out = await call("/translate", {texts});
        $("result").replaceChildren(el("pre", {id: "output", text: out.outputs.join("\n")}));
      } catch (error) { showError(error); }
    };
    return [el("p", {text: "Inputs in, their outputs (beam search) out."}), text, go];
  },
  language(info) {
    const prompt = el("input", {id: "input", value: "ROMEO:", size: 40});
    const length = el("input", {id: "length", type: "number", value: 200, min: 1, max: 2000});
    const go = el("button", {id: "go", text: "Continue"});
    go.onclick = async () => {
      try {
        const out = await call("/generate", {prompt: prompt.value, length: Number(length.value), temperature: 0.8,
                                             seed: 1});
        $("result").replaceChildren(el("pre", {id: "output", text: out.text}));
      } catch (error) { showError(error); }
    };
    return [el("p", {text: "A prompt in, its continuation out (temperature 0.8)."}),
            el("label", {text: "Prompt "}), prompt, el("label", {text: " tokens "}), length, el("br"), go];
  },
  forecast(info) {
    const csv = el("textarea", {id: "input", placeholder: "Newer observations as CSV (optional): one row per step"});
    const file = el("input", {id: "file", type: "file", accept: ".csv,text/csv"});
    file.onchange = async () => { csv.value = await file.files[0].text(); };
    const horizon = el("input", {id: "horizon", type: "number", value: info.config?.data?.horizon || 12, min: 1});
    const go = el("button", {id: "go", text: "Forecast"});
    go.onclick = async () => {
      try {
        const values = parseValues(csv.value);
        const out = await call("/forecast", {horizon: Number(horizon.value), ...(values.length ? {values} : {})});
        const point = out.point.map((row) => row[0]);
        const series = [{values, color: "#1d2330", label: "observed"},
                        {values: point, color: "#3b6fd8", start: values.length, label: "forecast"}];
        const band = out.lower ? {lower: out.lower.map((r) => r[0]), upper: out.upper.map((r) => r[0])} : null;
        const rows = point.map((p, i) => el("tr", {}, el("td", {text: String(out.time[i])}), el("td", {text: fmt(p)})));
        $("result").replaceChildren(
          el("p", {text: `Forecast of ${out.names[0]}, ${point.length} steps` +
                          (band ? `, with its ${Math.round(out.level * 100)}% interval` : "")}),
          chart(series, band, values.length),
          el("table", {id: "output"}, el("tr", {}, el("th", {text: "time"}), el("th", {text: "forecast"})), ...rows));
      } catch (error) { showError(error); }
    };
    return [el("p", {text: "A CSV of newer observations in (or nothing: from the end of the run's series), the " +
                           "forecast with its interval out."}), csv, file, el("br"),
            el("label", {text: "Horizon "}), horizon, el("br"), go];
  },
  anomaly(info) {
    const csv = el("textarea", {id: "input", placeholder: "Values as CSV, one row per point"});
    const file = el("input", {id: "file", type: "file", accept: ".csv,text/csv"});
    file.onchange = async () => { csv.value = await file.files[0].text(); };
    const go = el("button", {id: "go", text: "Stream"});
    go.onclick = async () => {
      try {
        const values = parseValues(csv.value);
        if (!values.length) throw new Error("paste or choose a CSV of values first");
        const session = await call("/sessions", {});
        const scores = [], flags = [];
        const status = el("p", {id: "status"});
        const holder = el("div");
        $("result").replaceChildren(status, holder);
        for (let i = 0; i < values.length; i += 1) {  // one point at a time, as a sensor would send them
          const out = await call(`/sessions/${session.session}/step`, {values: [values[i]]});
          scores.push(...out.scores.map((s) => (s === null ? 0 : s)));
          flags.push(...out.flagged);
          if (i % 5 === 4 || i === values.length - 1) {
            const series = [{values: scores, color: "#3b6fd8", flags}];
            if (out.threshold !== undefined && out.threshold !== null) series.threshold = out.threshold;
            holder.replaceChildren(chart(series, null, 0));
            status.textContent = `${scores.length} of ${values.length} points streamed; ` +
              `${flags.filter(Boolean).length} flagged`;
          }
        }
        status.id = "output";
        await fetch(`/sessions/${session.session}`, {method: "DELETE"});
      } catch (error) { showError(error); }
    };
    return [el("p", {text: "Values in, streamed one point at a time into a session: the anomaly score of each, " +
                           "drawn as it comes, the flagged points in red."}), csv, file, el("br"), go];
  },
  speech(info) {
    const file = el("input", {id: "file", type: "file", accept: ".wav,audio/wav"});
    const go = el("button", {id: "go", text: "Transcribe"});
    go.onclick = async () => {
      try {
        if (!file.files.length) throw new Error("choose a WAV file first");
        const out = await call("/transcribe", await file.files[0].arrayBuffer(), true);
        $("result").replaceChildren(el("pre", {id: "output", text: out.text}));
      } catch (error) { showError(error); }
    };
    return [el("p", {text: "A WAV file in, its transcript out."}), file, el("br"), go];
  },
};

async function main() {
  const info = await (await fetch("/info")).json();
  document.title = `rnnkit serve: ${info.task}`;
  $("title").textContent = `rnnkit: ${info.task}`;
  $("run").textContent = `run ${info.run}; weights: ${info.weights || "-"}`;
  $("form").replaceChildren(...(forms[info.task] ? forms[info.task](info)
    : [el("p", {text: `No form for the task ${info.task}.`})]));
  const metrics = Object.entries(info.metrics || {});
  $("metrics").replaceChildren(metrics.length
    ? el("table", {id: "metrics-table"}, ...metrics.map(([k, v]) => el("tr", {}, el("td", {text: k}), el("td", {text: fmt(v)}))))
    : el("p", {text: "No report yet."}));
  $("plots").replaceChildren(...(info.plots || []).map((name) => el("img", {src: `/files/${name}`, alt: name})));
  $("config").textContent = JSON.stringify(info.config, null, 2);
  $("endpoints").textContent = info.endpoints.join(", ");
}

main().catch(showError);
